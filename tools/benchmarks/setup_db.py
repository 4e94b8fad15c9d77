"""Django-side helpers of the benchmark, run as a subprocess with ``DATABASE_URL``:

python -m tools.benchmarks.setup_db world
python -m tools.benchmarks.setup_db collection --alias cmp-10000
python -m tools.benchmarks.setup_db load --alias scale-1000000 --count 1000000 --seed 8
python -m tools.benchmarks.setup_db stats --alias cmp-10000
python -m tools.benchmarks.setup_db explain --alias scale-1000000 --user … --path …
python -m tools.benchmarks.setup_db validate-cost --count 2000 --seed 8"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from itertools import islice
from typing import Any

import orjson

STAFF = ("bench-staff", "bench-staff-pass")
PARTNER = ("bench-partner", "bench-partner-pass")
PARTNER_NAME = "Bench Partner (TLP:GREEN ceiling)"
# A partner whose agreement lets everything through: the policy's cost alone.
PARTNER_ALL = ("bench-partner-all", "bench-partner-all-pass")
PARTNER_ALL_NAME = "Bench Partner (sees everything)"
API_ROOT = "bench"


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _collection(alias: str) -> Any:
    from intelshare.models import Collection

    return Collection.objects.get(api_root__slug=API_ROOT, alias=alias)


def cmd_world(_: argparse.Namespace) -> dict[str, Any]:
    """API root, a staff user, and a partner whose agreement stops at TLP:GREEN."""
    from intelshare import services, stix
    from intelshare.models import ApiRoot, Partner, User

    ApiRoot.objects.update_or_create(
        slug=API_ROOT,
        defaults={
            "title": "Benchmark",
            "is_default": True,
            "max_content_length": 256 * 1024 * 1024,
        },
    )
    staff, _ = User.objects.get_or_create(username=STAFF[0])
    staff.is_staff = True
    staff.set_password(STAFF[1])
    staff.save()
    for (username, password), name, ceiling in (
        (PARTNER, PARTNER_NAME, stix.TLP_GREEN),
        (PARTNER_ALL, PARTNER_ALL_NAME, stix.TLP_RED),
    ):
        partner, _ = Partner.objects.get_or_create(name=name, defaults={"slug": username})
        user, _ = User.objects.get_or_create(username=username)
        user.partner = partner
        user.set_password(password)
        user.save()
        if not partner.agreements.exists():
            services.agreement_create(partner=partner, name=name, tlp_ceiling=ceiling)
    return {"api_root": API_ROOT, "staff": list(STAFF), "partner": list(PARTNER)}


def cmd_collection(args: argparse.Namespace) -> dict[str, Any]:
    """A collection for one run, readable by the partner under its agreement."""
    from intelshare import services
    from intelshare.models import ApiRoot, Collection, Partner

    root = ApiRoot.objects.get(slug=API_ROOT)
    collection, _ = Collection.objects.get_or_create(
        api_root=root, alias=args.alias, defaults={"title": f"Benchmark {args.alias}"}
    )
    for name in (PARTNER_NAME, PARTNER_ALL_NAME):
        partner = Partner.objects.get(name=name)
        services.grant_set(agreement=partner.agreements.get(), collection=collection)
    return {"id": str(collection.pk), "alias": args.alias}


def cmd_load(args: argparse.Namespace) -> dict[str, Any]:
    """Bulk-load the generated feed through ``ingest.store``, ``--chunk`` at a time."""
    from intelshare import ingest
    from intelshare.content.generator import generate

    collection = _collection(args.alias)
    stream = generate(args.count, args.seed)
    stored = failed = 0
    start = time.perf_counter()
    while chunk := list(islice(stream, args.chunk)):
        result = ingest.store(collection=collection, objects=chunk)
        stored += result.new
        failed += result.failed
    seconds = time.perf_counter() - start
    return {
        "alias": args.alias,
        "count": args.count,
        "stored": stored,
        "failed": failed,
        "seconds": round(seconds, 2),
        "objects_per_s": round(stored / seconds, 1),
        "chunk": args.chunk,
        "path": "ingest.store in-process (not HTTP)",
    }


def cmd_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Versions stored and latest versions, counted on the staff path of ``policy``
    (what the partner sees is measured over HTTP by the policy line)."""
    from intelshare import policy

    versions = policy.catalogue(collection=_collection(args.alias))
    return {"versions": versions.count(), "latest": versions.filter(is_latest=True).count()}


def cmd_explain(args: argparse.Namespace) -> dict[str, Any]:
    """Run each path through the real view stack; EXPLAIN (ANALYZE, BUFFERS) every
    captured query that reads ``intelshare_objectversion``."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token = base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    client = Client(
        HTTP_HOST="127.0.0.1",
        HTTP_AUTHORIZATION=f"Basic {token}",
        HTTP_ACCEPT="application/taxii+json;version=2.1",
    )
    client.get(args.path[0])  # warm the credential cache and the connection
    results = []
    for label, path in zip(args.label, args.path, strict=True):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(path)
            seconds = time.perf_counter() - start
        plans = []
        for query in captured.captured_queries:
            text = query["sql"]
            if "intelshare_objectversion" not in text or not text.lstrip().upper().startswith(
                "SELECT"
            ):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + text)
                plan = [row[0] for row in cursor.fetchall()]
            plans.append({"sql": text, "query_ms": float(query["time"]) * 1000, "plan": plan})
        results.append(
            {
                "label": label,
                "path": path,
                "status": response.status_code,
                "in_process_ms": round(seconds * 1000, 2),
                "queries": len(captured.captured_queries),
                "explained": plans,
            }
        )
    return {"pages": results}


def cmd_validate_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Per-object cost: intelshare's structural check, ingest's whole validation
    (+ extension schema, + JSON text), and stix2-validator."""
    from stix2validator import ValidationOptions, validate_instance

    from intelshare import ingest, stix
    from intelshare.content.generator import generate

    objects = list(generate(args.count, args.seed))

    def per_object(func: Any, items: list[dict[str, Any]]) -> float:
        start = time.perf_counter()
        for obj in items:
            func(obj)
        return (time.perf_counter() - start) / len(items) * 1e6

    inspect_us = per_object(stix.inspect, objects)
    validate_us = per_object(ingest.validate, objects)
    subset = objects[: args.validator_count]
    options = ValidationOptions(version="2.1")
    invalid = 0

    def full(obj: dict[str, Any]) -> None:
        nonlocal invalid
        invalid += not validate_instance(obj, options).is_valid

    validator_us = per_object(full, subset)
    return {
        "objects": len(objects),
        "stix_inspect_us": round(inspect_us, 1),
        "ingest_validate_us": round(validate_us, 1),
        "stix2_validator_objects": len(subset),
        "stix2_validator_us": round(validator_us, 1),
        "stix2_validator_invalid": invalid,
        "validator_over_inspect": round(validator_us / inspect_us, 1),
        "validator_over_ingest_validate": round(validator_us / validate_us, 1),
    }


COMMANDS = {
    "world": cmd_world,
    "collection": cmd_collection,
    "load": cmd_load,
    "stats": cmd_stats,
    "explain": cmd_explain,
    "validate-cost": cmd_validate_cost,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks.setup_db")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("world")
    for name in ("collection", "stats"):
        sub.add_parser(name).add_argument("--alias", required=True)
    load = sub.add_parser("load")
    load.add_argument("--alias", required=True)
    load.add_argument("--count", type=int, required=True)
    load.add_argument("--seed", type=int, required=True)
    load.add_argument("--chunk", type=int, default=5000)
    explain = sub.add_parser("explain")
    explain.add_argument("--user", required=True)
    explain.add_argument("--password", required=True)
    explain.add_argument("--label", action="append", required=True)
    explain.add_argument("--path", action="append", required=True)
    cost = sub.add_parser("validate-cost")
    cost.add_argument("--count", type=int, default=2000)
    cost.add_argument("--seed", type=int, required=True)
    cost.add_argument("--validator-count", type=int, default=500)
    args = parser.parse_args(argv)
    _django()
    result = COMMANDS[args.command](args)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
