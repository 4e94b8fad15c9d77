"""The HTTP-floor line: the hub's staff full pull against a minimal WSGI app under the
same gunicorn serving the same objects from pre-built pages, with the same client, in
the same run, and the bytes each sends per object."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from tools.benchmarks import taxii
from tools.benchmarks.monitor import say
from tools.benchmarks.servers import Floor
from tools.benchmarks.stats import Budget, Phase

PAGE = {"limit": str(taxii.PAGE)}


def served_objects(target: taxii.Target, budget: Budget) -> list[bytes]:
    """The JSON of every object the hub serves on a staff full pull, as it served it."""
    texts: list[bytes] = []
    taxii.walk(
        target.session(),
        target.objects_url,
        PAGE,
        target.timeout,
        budget,
        Phase("collect"),
        keep_body=True,
        on_page=lambda page: texts.extend(orjson.dumps(o) for o in (page.body or {})["objects"]),
    )
    return texts


def floor_line(
    target: taxii.Target, ours: dict[str, Any], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    say(f"  floor: the same objects from pre-built pages ({args.workers} workers)")
    texts = served_objects(target, Budget(args.budget))
    workdir.mkdir(parents=True, exist_ok=True)
    objects_file = workdir / "objects.jsonl"
    objects_file.write_bytes(b"\n".join(texts) + b"\n")
    floor = Floor(workdir, workers=args.workers)
    floor.start(objects_file)
    try:
        plain = taxii.Target("floor", floor.collection_url(), ("floor", "floor"), args.timeout)
        taxii.warm_reads(plain, 2 * args.workers)
        phase = taxii.pull(plain, PAGE, Budget(args.budget), "floor_full_pull").summary()
    finally:
        floor.stop()
    hub = ours["full_pull"]
    rate, floor_rate = hub.get("objects_per_s"), phase.get("objects_per_s")
    return {
        "floor_full_pull": phase,
        "objects": len(texts),
        "staff_full_pull_vs_floor": round(rate / floor_rate, 3) if rate and floor_rate else None,
        "p50_vs_floor": (
            round(hub["p50_ms"] / phase["p50_ms"], 2)
            if hub.get("p50_ms") and phase.get("p50_ms")
            else None
        ),
    }
