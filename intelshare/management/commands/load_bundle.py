"""``manage.py load_bundle PATH --collection C``: store a STIX bundle's objects
through ``intelshare.ingest`` (the one write path), in batches, with a progress
counter on standard error and a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import ingest
from intelshare.management.commands._cli import Progress, collection, partner

SHOWN_FAILURES = 20


def read_objects(path: str) -> list[Any]:
    """The objects of a STIX bundle, a TAXII envelope or a JSON array."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"{path} is not JSON: {exc}") from None
    objects = document.get("objects") if isinstance(document, dict) else document
    if not isinstance(objects, list):
        raise CommandError(
            f"{path}: expected a STIX bundle (or an envelope, or a JSON array) "
            "with a list of objects"
        )
    if not objects:
        raise CommandError(f"{path}: the bundle has no objects")
    return objects


class Command(BaseCommand):
    help = (
        "Load a STIX 2.1 bundle file (or '-' for standard input) into a collection "
        "through ingest: invalid objects are reported, never stored; re-loading stores "
        "nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="bundle file, or - for standard input")
        parser.add_argument("--collection", required=True, help="collection id or alias")
        parser.add_argument("--api-root", help="API root slug, if the alias is ambiguous")
        parser.add_argument(
            "--source-partner",
            metavar="SLUG",
            help="store as this partner's contribution (originator control "
            "applies); default: the hub's own",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--strict", action="store_true", help="exit with status 1 if any object failed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        target = collection(options["collection"], api_root=options["api_root"])
        source = partner(options["source_partner"]) if options["source_partner"] else None
        objects = read_objects(options["path"])
        origin = f"cli:{Path(options['path']).name}"
        size = options["batch_size"]
        progress = Progress(len(objects), stream=self.stderr, label="stored ")
        new = duplicate = 0
        failures: list[ingest.Outcome] = []
        for start in range(0, len(objects), size):
            result = ingest.store(
                collection=target,
                objects=objects[start : start + size],
                source_partner=source,
                origin=origin,
            )
            new += result.new
            duplicate += result.duplicate
            failures += [o for o in result.outcomes if not o.ok]
            progress.advance(len(result.outcomes))
        progress.close()
        for outcome in failures[:SHOWN_FAILURES]:
            self.stderr.write(f"failed {outcome.id or '?'} {outcome.version}: {outcome.message}")
        if len(failures) > SHOWN_FAILURES:
            self.stderr.write(f"... and {len(failures) - SHOWN_FAILURES} more failures")
        self.stdout.write(
            f"{options['path']} into {target}: {len(objects)} objects, stored "
            f"{new}, duplicate {duplicate}, failed {len(failures)}"
        )
        if failures and options["strict"]:
            raise CommandError(f"{len(failures)} objects failed")
