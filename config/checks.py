"""Checks that stop a deployment before it serves or works with keys of its own."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

from sync import crypto

TAG = "keys"


@checks.register(TAG, checks.Tags.security)
def shared_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Outside the embedded mode, SECRET_KEY and INTELSHARE_SYNC_KEYS come from the
    environment: a key made on one machine is unknown to the others, so a partner's
    ``next`` token or a feed credential would fail on the next node."""
    errors: list[checks.CheckMessage] = []
    if settings.INTELSHARE_SYNC_KEYS:
        try:
            crypto.fernet()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id="config.E003"))
    if settings.EMBEDDED:
        return errors
    try:
        has_secret_key = bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        has_secret_key = False
    if not has_secret_key:
        errors.append(
            checks.Error(
                "SECRET_KEY is not set: every web node, worker and beat must share one, or a "
                "partner's next token signed by one node is refused by another.",
                hint="Set SECRET_KEY (50+ random characters) to the same value everywhere.",
                id="config.E001",
            )
        )
    if not settings.INTELSHARE_SYNC_KEYS:
        errors.append(
            checks.Error(
                "INTELSHARE_SYNC_KEYS is not set: feed credentials saved by one node could not "
                "be decrypted by the workers and the other nodes.",
                hint="Set INTELSHARE_SYNC_KEYS to the same Fernet keys everywhere: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
                id="config.E002",
            )
        )
    return errors


def refuse_to_start() -> None:
    """Raises SystemCheckError, listing every error, when a check of this module fails."""
    failed = [
        message
        for message in checks.run_checks(tags=[TAG])
        if message.is_serious() and not message.is_silenced()
    ]
    if failed:
        raise SystemCheckError(
            "intelshare refuses to start:\n" + "\n".join(f"{message}" for message in failed)
        )


def exit_unless_configured() -> None:
    """For processes without Django's command runner (Celery): print and exit 1."""
    try:
        refuse_to_start()
    except SystemCheckError as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the process stops before logging is set up
        raise SystemExit(1) from None
