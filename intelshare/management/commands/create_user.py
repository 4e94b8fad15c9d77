"""``manage.py create_user USERNAME --partner SLUG | --staff``: a partner's user or
a hub staff account. The password comes from standard input, or is generated and
printed once."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import accounts
from intelshare.management.commands._cli import clear_errors, partner


class Command(BaseCommand):
    help = (
        "Create a user of a partner (--partner) or a hub staff user (--staff). The "
        "password is read from standard input (--password-stdin), or generated and "
        "printed once; --no-password makes a token-only account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--partner", help="partner slug")
        who.add_argument("--staff", action="store_true", help="hub staff (no partner)")
        parser.add_argument("--superuser", action="store_true", help="with --staff: all rights")
        parser.add_argument("--email", default="")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
        secret.add_argument(
            "--no-password",
            action="store_true",
            help="no password: the account uses API tokens only",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["superuser"] and not options["staff"]:
            raise CommandError("--superuser needs --staff")
        printed = None
        if options["no_password"]:
            password = None
        elif options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("no password on standard input")
        else:
            password = printed = accounts.generate_password()
        with clear_errors():
            user = accounts.user_create(
                username=options["username"],
                partner=partner(options["partner"]) if options["partner"] else None,
                is_staff=options["staff"],
                is_superuser=options["superuser"],
                password=password,
                email=options["email"],
            )
        who = f"partner {user.partner.slug}" if user.partner else "hub staff"
        self.stdout.write(f"user {user.username} created ({who})")
        if printed:
            self.stdout.write(f"password: {printed}")
            self.stderr.write("The password is shown only now.")
