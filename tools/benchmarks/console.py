"""Timing of the operator console's pages on a large hub (not a test):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/intelshare_console_bench \\
        .venv/bin/python -m tools.benchmarks.console --versions 100000 --events 100000"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from itertools import islice
from typing import Any

import orjson

CHUNK = 5000


def _setup(versions: int, events: int, seed: int) -> dict[str, Any]:
    from django.core.management import call_command
    from django.utils import timezone

    from intelshare import ingest, policy, services, stix
    from intelshare.content.generator import generate
    from intelshare.content.pack import load_pack
    from intelshare.models import ApiRoot, AuditEvent, Collection, Partner, User

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    root = ApiRoot.objects.create(slug="intel", title="bench", is_default=True)
    collection = Collection.objects.create(api_root=root, title="bench", alias="bench")
    load_pack(collection=collection)
    stream = generate(versions, seed)
    started = time.monotonic()
    while chunk := list(islice(stream, CHUNK)):
        ingest.store(collection=collection, objects=chunk, origin="cli:bench")
    loaded = time.monotonic() - started
    partners = [Partner.objects.create(name=f"Partner {n}", slug=f"partner-{n}") for n in range(5)]
    for n, partner in enumerate(partners):
        services.agreement_create(
            partner=partner,
            name="bench",
            collections=[collection],
            tlp_ceiling=stix.TLP_GREEN if n % 2 else stix.TLP_AMBER,
        )
    pks = list(policy.catalogue().values_list("pk", flat=True)[:1000])
    now = timezone.now()
    step = timedelta(days=30) / max(1, events)
    batch = []
    for i in range(events):
        batch.append(
            AuditEvent(
                at=now - step * i,
                partner=partners[i % len(partners)],
                method="GET",
                endpoint="objects",
                collection=collection,
                status_code=200 if i % 50 else 404,
                count=len(pks[:20]),
                versions=pks[i % 900 : i % 900 + 20],
            )
        )
        if len(batch) == CHUNK:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    User.objects.create_superuser("bench-console", password="bench-console-pass")
    forest = (
        policy.catalogue().filter(type="intrusion-set", raw__contains="Forest Blizzard").first()
    )
    return {
        "collection": str(collection.pk),
        "partner": partners[1].pk,
        "object": forest.stix_id if forest else "",
        "load_seconds": round(loaded, 1),
        "versions": policy.catalogue().count(),
        "events": AuditEvent.objects.count(),
    }


def _existing() -> dict[str, Any]:
    """The setup facts of a database an earlier run loaded (``--reuse``)."""
    from intelshare import policy
    from intelshare.models import AuditEvent, Collection, Partner

    forest = (
        policy.catalogue().filter(type="intrusion-set", raw__contains="Forest Blizzard").first()
    )
    return {
        "collection": str(Collection.objects.get(alias="bench").pk),
        "partner": Partner.objects.get(slug="partner-1").pk,
        "object": forest.stix_id if forest else "",
        "load_seconds": None,
        "versions": policy.catalogue().count(),
        "events": AuditEvent.objects.count(),
    }


def _time(paths: dict[str, str], repeats: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from intelshare.models import User

    client = Client(SERVER_NAME="localhost")
    client.force_login(User.objects.get(username="bench-console"))
    found: dict[str, Any] = {}
    for name, path in paths.items():
        times = []
        queries = 0
        for _ in range(repeats):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            queries = len(captured.captured_queries)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code}")
        found[name] = {
            "path": path,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "queries": queries,
        }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks.console")
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--reuse", action="store_true", help="time the pages on what an earlier run loaded"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    setup = _existing() if args.reuse else _setup(args.versions, args.events, args.seed)
    c, p = setup["collection"], setup["partner"]
    paths = {
        "dashboard_7d": "/console/",
        "dashboard_30d": "/console/?days=30",
        "matrix": "/console/matrix/",
        "objects": "/console/objects/",
        "search_name": "/console/objects/?q=Forest+Blizzard",
        "search_external_id": "/console/objects/?q=T1682",
        "object": f"/console/objects/{setup['object']}/?partner={p}",
        "preview": f"/console/preview/{p}/{c}/",
        "feeds": "/console/feeds/",
    }
    result = {"setup": setup, "pages": _time(paths, args.repeats)}
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
