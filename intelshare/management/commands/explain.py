"""``manage.py explain PARTNER STIX_ID``: is each version shared, and which rule decided."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import policy
from intelshare.models import Partner


class Command(BaseCommand):
    help = "Explain, for every stored version of an object, whether a partner receives it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("partner", help="partner slug")
        parser.add_argument("stix_id")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = Partner.objects.filter(slug=options["partner"]).first()
        if partner is None:
            raise CommandError(f"no partner with slug {options['partner']!r}")
        explanations = policy.explain(partner=partner, stix_id=options["stix_id"])
        if not explanations:
            raise CommandError(f"no stored version of {options['stix_id']}")
        for e in explanations:
            verdict = "shared" if e.decision.shared else "withheld"
            self.stdout.write(f"{e.collection_id}  {e.version}  {verdict:<8}  {e.decision.rule}")
