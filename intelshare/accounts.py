"""Writes of the hub's accounts: partners, their users and API tokens; errors are
``ValidationError``s keyed by field.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import slugify

from intelshare.models import ApiToken, Partner, User

logger = logging.getLogger(__name__)


def partner_create(*, name: str, slug: str = "", description: str = "") -> Partner:
    """A new partner; ``slug`` defaults to the slugified name."""
    partner = Partner(name=name.strip(), slug=slug or slugify(name), description=description)
    partner.full_clean()
    partner.save()
    logger.info("partner %s created", partner.pk)
    return partner


def generate_password() -> str:
    """A password for a new account when none is given (printed once by the CLI)."""
    return secrets.token_urlsafe(18)


def roles_check(*, partner: Partner | None, is_staff: bool) -> None:
    """A user is a partner's or the hub's staff, exactly one of the two."""
    if partner is not None and is_staff:
        raise ValidationError({"is_staff": "A partner user cannot be hub staff."})
    if partner is None and not is_staff:
        raise ValidationError({"partner": "A user belongs to a partner unless it is hub staff."})


def user_create(
    *,
    username: str,
    partner: Partner | None = None,
    is_staff: bool = False,
    is_superuser: bool = False,
    password: str | None = None,
    email: str = "",
) -> User:
    """A partner user or a hub staff user, never both; without ``password`` only API
    tokens can authenticate it.
    """
    if is_superuser:
        is_staff = True
    roles_check(partner=partner, is_staff=is_staff)
    user = User(
        username=username,
        partner=partner,
        is_staff=is_staff,
        is_superuser=is_superuser,
        email=email,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    logger.info("user %s created (partner %s, staff %s)", user.pk, partner and partner.pk, is_staff)
    return user


def token_check(*, user: User, name: str, expires_at: datetime | None = None) -> None:
    """Raise the field errors ``token_issue`` would raise (for forms)."""
    errors = {}
    if not name.strip():
        errors["name"] = "A token needs a name."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if not user.is_active:
        errors["user"] = "The user is inactive."
    if errors:
        raise ValidationError(errors)


def token_issue(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new API token of ``user``; returns the row and the plaintext, which is
    never stored (only its SHA-256) and so can be shown only this once."""
    token_check(user=user, name=name, expires_at=expires_at)
    token, plaintext = ApiToken.issue(user=user, name=name.strip(), expires_at=expires_at)
    logger.info("token %s issued to user %s", token.pk, user.pk)
    return token, plaintext


def token_revoke(*, token: ApiToken, now: datetime | None = None) -> ApiToken:
    """Revoke ``token``: the next request that uses it is refused. Idempotent."""
    now = now or timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db()
    logger.info("token %s revoked", token.pk)
    return token
