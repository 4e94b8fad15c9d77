"""``manage.py revoke_token ID``: revoke an API token (its next use is refused)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import accounts
from intelshare.models import ApiToken


class Command(BaseCommand):
    help = "Revoke an API token by its id (see the admin, or GET /api/v1/tokens/)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        token = ApiToken.objects.filter(pk=options["token_id"]).select_related("user").first()
        if token is None:
            raise CommandError(f"no token {options['token_id']}")
        accounts.token_revoke(token=token)
        self.stdout.write(
            f"token {token.pk} ({token.name}) of {token.user.username} revoked "
            f"at {token.revoked_at.isoformat()}"
        )
