"""``manage.py export_bundle --collection C --as-partner SLUG``: a STIX bundle of
exactly what that partner would receive from the collection now (every visible
version, redacted where its agreement says), read through ``policy.visible``."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from intelshare import policy
from intelshare.management.commands._cli import collection, partner

PAGE = 1000


class Command(BaseCommand):
    help = (
        "Write a STIX 2.1 bundle of what a partner would receive from a collection "
        "right now (the same rows its TAXII pulls get), to a file or standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", required=True, help="collection id or alias")
        parser.add_argument("--api-root", help="API root slug, if the alias is ambiguous")
        parser.add_argument("--as-partner", required=True, metavar="SLUG")
        parser.add_argument("--output", "-o", default="-", help="file (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        target = collection(options["collection"], api_root=options["api_root"])
        reader = partner(options["as_partner"])
        if options["output"] == "-":
            count = self._write(sys.stdout.buffer, reader, target)
        else:
            path = Path(options["output"])
            if not path.parent.is_dir():
                raise CommandError(f"no directory {path.parent}")
            with path.open("wb") as out:
                count = self._write(out, reader, target)
        self.stderr.write(f"{count} versions of {target} as {reader.slug} would receive them")

    def _write(self, out: BinaryIO, reader: Any, target: Any) -> int:
        view = policy.visible(partner=reader, collection=target, now=timezone.now())
        fields = ("raw", *view.redaction_fields)
        out.write(
            b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
        )
        cursor, count = None, 0
        while True:
            rows = view.window(None, added_after=None, after=cursor, limit=PAGE, fields=fields)
            if not rows:
                break
            for text in view.render(rows, 2):
                out.write((b"," if count else b"") + text.encode())
                count += 1
            cursor = rows[-1].cursor
        out.write(b"]}\n")
        out.flush()
        return count
