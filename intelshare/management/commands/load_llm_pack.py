"""``manage.py load_llm_pack --collection C``: store the LLM-misuse starter pack."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare.content import describe_result, resolve_collection
from intelshare.content.pack import load_pack


class Command(BaseCommand):
    help = (
        "Load the starter pack (the Microsoft/OpenAI report of 2024-02-14 as STIX "
        "2.1, TLP:CLEAR) into a collection; loading it again stores nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--collection", required=True, help="target collection: its id (UUID) or alias"
        )
        parser.add_argument("--api-root", help="API root slug, if the alias is ambiguous")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            collection = resolve_collection(options["collection"], api_root=options["api_root"])
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        summary, failures = describe_result(load_pack(collection=collection))
        for line in failures:
            self.stderr.write(line)
        self.stdout.write(f"starter pack into {collection}: {summary}")
        if failures:
            raise CommandError(f"{len(failures)} objects failed")
