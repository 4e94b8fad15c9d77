"""``manage.py add_feed``: register a partner TAXII feed (pull or push)."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from getpass import getpass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import stix
from intelshare.models import Collection, Partner
from sync import services
from sync.models import Feed

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise CommandError(f"--interval {text!r}: use e.g. 900, 15m, 1h, 1d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _collection(key: str) -> Collection:
    found = Collection.objects.filter(alias=key).first()
    if found is None:
        try:
            found = Collection.objects.filter(pk=key).first()
        except ValidationError:
            found = None
    if found is None:
        raise CommandError(f"no local collection with id or alias {key!r}")
    return found


class Command(BaseCommand):
    help = (
        "Add a partner feed. The credential is read from an environment variable "
        "(--secret-env), standard input (--secret-stdin) or a prompt, never from the "
        "command line, and stored encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a short unique name, e.g. acme-pull")
        parser.add_argument("--partner", required=True, help="partner slug")
        parser.add_argument("--direction", choices=[Feed.PULL, Feed.PUSH], default=Feed.PULL)
        parser.add_argument("--api-root", required=True, help="remote API root URL")
        parser.add_argument("--remote-collection", required=True, help="remote collection id")
        parser.add_argument("--collection", required=True, help="local collection id or alias")
        parser.add_argument("--taxii-version", choices=["2.1", "2.0"], default="2.1")
        parser.add_argument("--auth", choices=[a for a, _ in Feed.AUTH_TYPES], default="none")
        parser.add_argument("--username", default="", help="for --auth basic")
        parser.add_argument("--header-name", default="", help="for --auth header")
        parser.add_argument(
            "--secret-env",
            metavar="VAR",
            help="read the password/token from this environment variable",
        )
        parser.add_argument(
            "--secret-stdin",
            action="store_true",
            help="read the password/token from standard input",
        )
        parser.add_argument("--interval", default="15m", help="e.g. 900, 15m, 1h")
        parser.add_argument("--page-size", type=int, default=500)
        parser.add_argument(
            "--default-tlp",
            choices=list(stix.TLP_BY_NAME),
            default="amber",
            help="TLP assumed for pulled objects without a TLP marking",
        )
        parser.add_argument("--no-verify-tls", action="store_true")
        parser.add_argument("--ca-bundle", default="")
        parser.add_argument("--client-cert", default="")
        parser.add_argument("--client-key", default="")
        parser.add_argument("--paused", action="store_true", help="create it disabled")

    def _secret(self, options: dict[str, Any]) -> str:
        if options["auth"] == Feed.AUTH_NONE:
            return ""
        if options["secret_env"]:
            value = os.environ.get(options["secret_env"])
            if not value:
                raise CommandError(f"environment variable {options['secret_env']} is empty")
            return value
        if options["secret_stdin"]:
            return sys.stdin.readline().rstrip("\n")
        if sys.stdin.isatty():
            return getpass("Credential (password, token or header value): ")
        raise CommandError("--auth needs --secret-env VAR or --secret-stdin")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = Partner.objects.filter(slug=options["partner"]).first()
        if partner is None:
            raise CommandError(f"no partner with slug {options['partner']!r}")
        if Feed.objects.filter(name=options["name"]).exists():
            raise CommandError(f"a feed named {options['name']!r} exists")
        try:
            feed = services.feed_create(
                secret=self._secret(options),
                name=options["name"],
                partner=partner,
                direction=options["direction"],
                api_root_url=options["api_root"],
                remote_collection_id=options["remote_collection"],
                collection=_collection(options["collection"]),
                taxii_version=options["taxii_version"],
                auth_type=options["auth"],
                username=options["username"],
                header_name=options["header_name"],
                interval=_duration(options["interval"]),
                page_size=options["page_size"],
                default_tlp=stix.TLP_BY_NAME[options["default_tlp"]],
                verify_tls=not options["no_verify_tls"],
                ca_bundle=options["ca_bundle"],
                client_cert=options["client_cert"],
                client_key=options["client_key"],
                enabled=not options["paused"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(
                    f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
                )
            ) from None
        self.stdout.write(
            f"feed {feed.pk} {feed.name}: {feed.direction} {feed.api_root_url} "
            f"collection {feed.remote_collection_id} ↔ {feed.collection}; "
            f"every {feed.interval}; "
            f"{'paused' if not feed.enabled else 'enabled'}"
        )
