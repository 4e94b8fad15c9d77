"""``manage.py agree PARTNER``: create or change a partner's sharing agreement and
its grants, through ``intelshare.services`` (widenings are recorded)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from intelshare import services, stix
from intelshare.management.commands._cli import (
    TLP_NAMES,
    clear_errors,
    collection,
    duration,
    partner,
    when,
)
from intelshare.models import Agreement, Grant


def _types(values: list[str] | None, option: str) -> list[str]:
    names = [n for v in values or () for n in re.split(r"[\s,]+", v) if n]
    bad = [n for n in names if not stix.TYPE.fullmatch(n)]
    if bad:
        raise CommandError(f"{option}: not STIX types: {', '.join(bad)}")
    return names


class Command(BaseCommand):
    help = (
        "Create or update the agreement NAME (default: the partner's slug) of a partner; "
        "only the rules given change. Each --collection gets a grant with --read/--write."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("partner", help="partner slug")
        parser.add_argument("--name", help="agreement name (default: the partner slug)")
        parser.add_argument(
            "--collection",
            action="append",
            default=[],
            help="collection id or alias to grant (repeatable)",
        )
        parser.add_argument("--api-root", help="API root slug, if an alias is ambiguous")
        parser.add_argument(
            "--read",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="grant reading the --collection(s) (default: yes)",
        )
        parser.add_argument(
            "--write",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="grant adding objects to the --collection(s) (default: no)",
        )
        parser.add_argument("--tlp-ceiling", choices=TLP_NAMES)
        types = parser.add_mutually_exclusive_group()
        types.add_argument(
            "--allow-type",
            action="append",
            metavar="TYPE",
            help="only these STIX types (repeatable or comma-separated)",
        )
        types.add_argument("--all-types", action="store_true", help="clear the allow list")
        denied = parser.add_mutually_exclusive_group()
        denied.add_argument(
            "--deny-type",
            action="append",
            metavar="TYPE",
            help="never these STIX types (repeatable or comma-separated)",
        )
        denied.add_argument("--no-denied-types", action="store_true")
        parser.add_argument("--embargo", help="e.g. 0, 6h, 2d")
        parser.add_argument("--valid-from", help="ISO 8601 (default for a new one: now)")
        until = parser.add_mutually_exclusive_group()
        until.add_argument("--valid-until", help="ISO 8601")
        until.add_argument("--no-end", action="store_true", help="clear valid-until")
        parser.add_argument(
            "--granular",
            choices=[Agreement.WITHHOLD, Agreement.REDACT],
            help="a property marked above the ceiling: withhold the version or remove the property",
        )
        parser.add_argument(
            "--sightings",
            choices=[Agreement.NAMED, Agreement.ANONYMOUS, Agreement.UNSHARED],
            help="the partner's sightings: to the originator, only counted, or kept on the hub",
        )
        consents = parser.add_mutually_exclusive_group()
        consents.add_argument(
            "--consent",
            action="append",
            metavar="SLUG",
            help="partner that may receive this one's TLP:AMBER (repeatable)",
        )
        consents.add_argument("--no-consents", action="store_true")
        limits = parser.add_mutually_exclusive_group()
        limits.add_argument("--rate-limit", type=int, help="TAXII requests per minute")
        limits.add_argument("--no-rate-limit", action="store_true")

    def _rules(self, options: dict[str, Any]) -> dict[str, Any]:
        rules: dict[str, Any] = {}
        if options["tlp_ceiling"]:
            rules["tlp_ceiling"] = stix.TLP_BY_NAME[options["tlp_ceiling"]]
        if options["allow_type"]:
            rules["allowed_types"] = _types(options["allow_type"], "--allow-type")
        elif options["all_types"]:
            rules["allowed_types"] = None
        if options["deny_type"]:
            rules["denied_types"] = _types(options["deny_type"], "--deny-type")
        elif options["no_denied_types"]:
            rules["denied_types"] = []
        if options["embargo"]:
            rules["embargo"] = duration(options["embargo"], option="--embargo")
        if options["valid_from"]:
            rules["valid_from"] = when(options["valid_from"], option="--valid-from")
        if options["valid_until"]:
            rules["valid_until"] = when(options["valid_until"], option="--valid-until")
        elif options["no_end"]:
            rules["valid_until"] = None
        if options["granular"]:
            rules["granular_mode"] = options["granular"]
        if options["sightings"]:
            rules["sightings"] = options["sightings"]
        if options["rate_limit"] is not None:
            if options["rate_limit"] < 1:
                raise CommandError("--rate-limit must be at least 1")
            rules["rate_limit"] = options["rate_limit"]
        elif options["no_rate_limit"]:
            rules["rate_limit"] = None
        return rules

    def handle(self, *args: Any, **options: Any) -> None:
        who = partner(options["partner"])
        name = options["name"] or who.slug
        rules = self._rules(options)
        consents = None
        if options["consent"]:
            consents = [partner(slug) for slug in options["consent"]]
            if who in consents:
                raise CommandError("--consent: a partner always sees its own contributions")
        elif options["no_consents"]:
            consents = []
        targets = [collection(c, api_root=options["api_root"]) for c in options["collection"]]
        with transaction.atomic(), clear_errors():
            agreement = Agreement.objects.filter(partner=who, name=name).first()
            start = rules.get("valid_from", agreement.valid_from if agreement else None)
            end = rules.get("valid_until", agreement.valid_until if agreement else None)
            if start is not None and end is not None and end <= start:
                raise CommandError("--valid-until must be after valid-from")
            if agreement is None:
                agreement = services.agreement_create(
                    partner=who, name=name, consents=consents or (), **rules
                )
                verb, revealed = "created", 0
            else:
                revealed = services.agreement_update(
                    agreement=agreement, consents=consents, **rules
                )
                verb = "updated"
            for target in targets:
                other = (
                    Grant.objects.filter(partner=who, collection=target)
                    .exclude(agreement=agreement)
                    .select_related("agreement")
                    .first()
                )
                if other is not None:
                    raise CommandError(
                        f"{who.slug} already has a grant on {target} under "
                        f"agreement {other.agreement.name!r}"
                    )
                services.grant_set(
                    agreement=agreement,
                    collection=target,
                    can_read=options["read"],
                    can_write=options["write"],
                )
        agreement.refresh_from_db()
        self.stdout.write(f"agreement {agreement.name!r} of {who.slug} {verb} (id {agreement.pk})")
        until = agreement.valid_until.isoformat() if agreement.valid_until else "open"
        self.stdout.write(
            f"  tlp ceiling {stix.TLP_NAMES[agreement.tlp_ceiling]}, embargo "
            f"{agreement.embargo}, types {agreement.allowed_types or 'all'}"
            f" minus {agreement.denied_types or 'none'}, granular "
            f"{agreement.granular_mode}, sightings {agreement.sightings}, valid "
            f"{agreement.valid_from.isoformat()} .. {until}"
        )
        for grant in agreement.grants.select_related("collection"):
            rights = (
                ", ".join(
                    r for r, on in (("read", grant.can_read), ("write", grant.can_write)) if on
                )
                or "none"
            )
            self.stdout.write(f"  grant {grant.collection}: {rights}")
        if revealed:
            self.stdout.write(f"  {revealed} versions newly revealed (dated now for the partner)")
