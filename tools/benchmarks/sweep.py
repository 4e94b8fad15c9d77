"""intelshare alone: the policy line and the scale sweep with its query plans."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any
from urllib.parse import urlencode

from tools.benchmarks import pg, taxii
from tools.benchmarks.monitor import RssSampler, say, step
from tools.benchmarks.servers import Intelshare, Process
from tools.benchmarks.setup_db import PARTNER, PARTNER_ALL, STAFF
from tools.benchmarks.stats import Budget, Phase

PAGE = {"limit": str(taxii.PAGE)}


def policy_line(
    server: Intelshare, collection_url: str, staff: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    out = {}
    for suffix, auth in (("", PARTNER), ("_sees_all", PARTNER_ALL)):
        partner = taxii.Target(f"intelshare-partner{suffix}", collection_url, auth, args.timeout)
        taxii.warm(partner, 6 * args.workers)
        taxii.warm_reads(partner, 2 * args.workers)  # as the staff suite was warmed
        out.update(_partner_pulls(partner, staff, args, suffix))
    return out


def _partner_pulls(
    partner: taxii.Target, staff: dict[str, Any], args: argparse.Namespace, suffix: str
) -> dict[str, Any]:
    out = {}
    for name, params in (("full_pull", PAGE), ("version_all", {**PAGE, "match[version]": "all"})):
        phase = taxii.pull(partner, params, Budget(args.budget), f"partner_{name}").summary()
        mine = staff[name]
        out[name + suffix] = {
            "partner_objects": phase["objects"],
            "staff_objects": mine["objects"],
            "partner_seconds": phase["seconds"],
            "staff_seconds": mine["seconds"],
            "visible_fraction": round(phase["objects"] / mine["objects"], 3)
            if mine["objects"]
            else None,
            "time_ratio": round(phase["seconds"] / mine["seconds"], 2) if mine["seconds"] else None,
            "rate_ratio": round(phase["objects_per_s"] / mine["objects_per_s"], 2)
            if phase["objects_per_s"] and mine["objects_per_s"]
            else None,
            "partner": phase,
        }
    return out


def page_latencies(
    target: taxii.Target,
    args: argparse.Namespace,
    *,
    rss: Process | None,
    label: str,
    memory: dict[str, Any],
) -> dict[str, Any]:
    """First, middle (by next) and last page of one collection, ``repeats`` times each."""
    taxii.warm(target, 6 * args.workers)
    session = target.session()
    out: dict[str, Any] = {}
    first = Phase("first")
    for _ in range(args.repeats):
        page = taxii.get_page(session, target.objects_url, PAGE, target.timeout)
        first.record(page.seconds, page.count, ok=page.error is None)
    out["first"] = first.summary()
    tokens: list[str | None] = []
    counts: list[int] = []

    def keep(page: taxii.PageResult) -> None:
        tokens.append(page.next)
        counts.append(page.count)

    with RssSampler(rss) if rss else contextlib.nullcontext() as sampler:
        walk = taxii.pull(target, PAGE, Budget(args.budget * 4), "walk", on_page=keep)
    if isinstance(sampler, RssSampler):
        memory[label] = sampler.summary()
    out["walk"] = walk.summary()
    out["walk"]["pages"] = len(tokens)
    # tokens[i] is the token returned by page i, i.e. the one that fetches page i + 1.
    fetching = [None, *tokens[:-1]]
    out["tokens"] = {}
    # "last" is the last *full* page: the walk's final page holds whatever is left
    # (23 rows at one size, 782 at another), and its latency says more about its
    # length than about where in the collection it lies.
    full = [i for i, count in enumerate(counts) if count == int(PAGE["limit"])]
    if len(fetching) >= 3 and walk.extra.get("complete") and full:
        out["last_page_rows"] = {"walk_final": counts[-1], "measured": counts[full[-1]]}
        for name, token in (("middle", fetching[len(fetching) // 2]), ("last", fetching[full[-1]])):
            phase = Phase(name)
            for _ in range(args.repeats):
                page = taxii.get_page(
                    session, target.objects_url, {**PAGE, "next": str(token)}, target.timeout
                )
                phase.record(page.seconds, page.count, ok=page.error is None)
            out[name] = phase.summary()
            out["tokens"][name] = token
    return out


def explain(
    server: Intelshare, collection_id: str, pages: dict[str, Any], auth: tuple[str, str]
) -> dict[str, Any]:
    base = f"/taxii2/bench/collections/{collection_id}/objects/"
    labels, paths = ["first"], [base + "?" + urlencode(PAGE)]
    for name, token in pages.get("tokens", {}).items():
        labels.append(name)
        paths.append(base + "?" + urlencode({**PAGE, "next": token}))
    argv = ["explain", "--user", auth[0], "--password", auth[1]]
    for label, path in zip(labels, paths, strict=True):
        argv += ["--label", label, "--path", path]
    return server.setup(*argv, timeout=1800)


def scale_sweep(server: Intelshare, args: argparse.Namespace, results: dict[str, Any]) -> None:
    sweep: dict[str, Any] = {
        "sizes": {},
        "note": "bulk-loaded in-process via ingest.store "
        "in chunks of 5,000 (not HTTP); pages of 1,000 by next",
    }
    results["scale"] = sweep
    largest = max(args.scale)
    for size in args.scale:
        alias = f"scale-{size}"
        collection = server.setup("collection", "--alias", alias)
        say(f"scale: bulk-load {size} versions")
        load = server.setup(
            "load", "--alias", alias, "--count", str(size), "--seed", str(args.seed), timeout=7200
        )
        pg.analyze(args.database)
        url = server.collection_url(collection["id"])
        entry: dict[str, Any] = {"load": load}
        sweep["sizes"][str(size)] = entry
        with step(results, f"scale {size}"):
            say(f"scale {size}: staff pages")
            entry["staff"] = page_latencies(
                taxii.Target("intelshare", url, STAFF, args.timeout),
                args,
                rss=server,
                label=f"intelshare staff walk @{size}",
                memory=results["memory"],
            )
            say(f"scale {size}: partner pages")
            entry["partner"] = page_latencies(
                taxii.Target("intelshare-partner", url, PARTNER, args.timeout),
                args,
                rss=server,
                label=f"intelshare partner walk @{size}",
                memory=results["memory"],
            )
            if size == largest:
                say(f"scale {size}: EXPLAIN (ANALYZE, BUFFERS)")
                sweep["explain"] = {
                    "size": size,
                    "staff": explain(server, collection["id"], entry["staff"], STAFF),
                    "partner": explain(server, collection["id"], entry["partner"], PARTNER),
                }
