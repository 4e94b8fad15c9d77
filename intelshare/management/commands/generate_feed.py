"""``manage.py generate_feed --count N --seed S``: a synthetic STIX 2.1 bundle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare.content.generator import DEFAULT_PARTNERS, generate
from intelshare.stixids import fixed_id


class Command(BaseCommand):
    help = (
        "Write a SYNTHETIC LLM-misuse STIX 2.1 bundle (test data, not "
        "intelligence); the same --count/--seed/--partners always give the "
        "same bytes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=1000, help="number of objects")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--partners",
            default=",".join(DEFAULT_PARTNERS),
            help="comma-separated contributing partner names",
        )
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        count, seed = options["count"], options["seed"]
        if count < 0:
            raise CommandError("--count must not be negative")
        partners = [p for p in options["partners"].split(",") if p]
        started = time.perf_counter()
        try:
            objects = list(generate(count, seed, partners=partners))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        bundle = {
            "type": "bundle",
            "id": fixed_id("bundle", f"synthetic|{count}|{seed}|{','.join(partners)}"),
            "objects": objects,
        }
        data = orjson.dumps(bundle)
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(data.decode())
            return
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc}") from None
        self.stdout.write(
            f"{len(objects)} objects written to {output} in {time.perf_counter() - started:.2f} s"
        )
