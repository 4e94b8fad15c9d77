"""``manage.py recount_facts``: count each collection's stored facts again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from intelshare import ingest
from intelshare.management.commands._cli import collection
from intelshare.models import Collection


class Command(BaseCommand):
    help = (
        "Count the stored facts of collections again from their versions. Ingest only "
        "ever raises them; after deleting a collection's most restricted versions, this "
        "lets partners whose rules then withhold nothing read pages as staff do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "collections", nargs="*", help="aliases or ids (default: every collection)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [collection(ref) for ref in options["collections"]] or list(
            Collection.objects.order_by("created")
        )
        for found in chosen:
            before = found.facts
            after = ingest.recount_facts(found)
            change = "unchanged" if after == before else f"{before} -> {after}"
            self.stdout.write(f"{found}: {change}")
