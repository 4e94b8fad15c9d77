"""``manage.py create_partner NAME``: a new partner organisation."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from intelshare import accounts
from intelshare.management.commands._cli import clear_errors


class Command(BaseCommand):
    help = "Create a partner organisation (then: create_user, issue_token, agree)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the organisation's name, e.g. 'Acme Security'")
        parser.add_argument("--slug", default="", help="URL-safe name (default: from NAME)")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        with clear_errors():
            partner = accounts.partner_create(
                name=options["name"], slug=options["slug"], description=options["description"]
            )
        self.stdout.write(f"partner {partner.slug} created ({partner.name})")
