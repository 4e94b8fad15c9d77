"""``manage.py import_atlas PATH --collection C``: load MITRE ATLAS's STIX bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare.content import describe_result, resolve_collection
from intelshare.content.atlas import import_atlas, normalise_atlas


class Command(BaseCommand):
    help = (
        "Import MITRE ATLAS's STIX 2.1 bundle (stix-atlas.json) into a collection, "
        "repairing its known defects; prints every repair and a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the ATLAS STIX bundle (JSON)")
        parser.add_argument(
            "--collection", required=True, help="target collection: its id (UUID) or alias"
        )
        parser.add_argument("--api-root", help="API root slug, if the alias is ambiguous")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="only normalise and print the repairs; store nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        try:
            bundle = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        if options["dry_run"]:
            try:
                objects, fixes = normalise_atlas(bundle)
            except ValueError as exc:
                raise CommandError(f"{path}: {exc}") from None
            self._print_fixes(fixes)
            self.stdout.write(f"dry run: {len(objects)} objects would be stored")
            return
        try:
            collection = resolve_collection(options["collection"], api_root=options["api_root"])
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        try:
            fixes, result = import_atlas(bundle, collection=collection)
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from None
        self._print_fixes(fixes)
        summary, failures = describe_result(result)
        for line in failures:
            self.stderr.write(line)
        self.stdout.write(f"ATLAS into {collection}: {summary}")
        if failures:
            raise CommandError(f"{len(failures)} objects failed")

    def _print_fixes(self, fixes: list[Any]) -> None:
        for fix in fixes:
            self.stdout.write(f"fix [{fix.kind}] {fix}")
        self.stdout.write(f"{len(fixes)} fixes")
