"""``manage.py issue_token USERNAME --name NAME``: a new API token, printed once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from intelshare import accounts
from intelshare.management.commands._cli import clear_errors, duration, user, when


class Command(BaseCommand):
    help = (
        "Issue an API token to a user (Authorization: Bearer <token>). The token is "
        "printed once on standard output; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. opencti")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires-in", help="e.g. 90d, 12h (default: never)")
        expiry.add_argument("--expires-at", help="ISO 8601 date-time")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = user(options["username"])
        expires = None
        if options["expires_in"]:
            expires = timezone.now() + duration(options["expires_in"], option="--expires-in")
        elif options["expires_at"]:
            expires = when(options["expires_at"], option="--expires-at")
        with clear_errors():
            token, plaintext = accounts.token_issue(
                user=owner, name=options["name"], expires_at=expires
            )
        until = token.expires_at.isoformat() if token.expires_at else "never"
        self.stderr.write(
            f"token {token.pk} ({token.name}) for {owner.username}, expires "
            f"{until}; shown only now:"
        )
        self.stdout.write(plaintext)
