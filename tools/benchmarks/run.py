"""Orchestration of one benchmark run (``python -m tools.benchmarks --help``)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from intelshare.content.generator import generate
from tools.benchmarks import opentaxii, pg, pyspy, report, taxii
from tools.benchmarks.cli import git, meta, parse
from tools.benchmarks.floorline import floor_line
from tools.benchmarks.monitor import LOAD, RssSampler, say, step
from tools.benchmarks.servers import Intelshare, Medallion, Process
from tools.benchmarks.setup_db import PARTNER, PARTNER_ALL, STAFF
from tools.benchmarks.stats import Budget, Phase
from tools.benchmarks.sweep import policy_line, scale_sweep

PAGE = {"limit": str(taxii.PAGE)}


# --- helpers -----------------------------------------------------------------------------


def ingest_split(count: int) -> int:
    """How many of ``count`` objects go in 100-object envelopes (the rest in 1,000s)."""
    return max(100, min(count // 2, 5000)) // 100 * 100


def sample_ids(objects: list[dict[str, Any]], count: int) -> list[str]:
    ids = list(dict.fromkeys(o["id"] for o in objects))
    step = max(1, len(ids) // max(1, count))
    return ids[::step][:count]


# --- one server at one size ------------------------------------------------------------


def suite(
    target: taxii.Target,
    objects: list[dict[str, Any]],
    args: argparse.Namespace,
    *,
    rss: Process | None = None,
    memory: dict[str, Any] | None = None,
    partner: taxii.Target | None = None,
) -> dict[str, Phase]:
    """Load ``objects`` by POST, then every read phase, on one (empty) collection.
    With a ``database``, the first full pulls (staff, and ``partner``'s) are taken
    right after the load, before the ``ANALYZE`` that autovacuum would run later."""
    phases: dict[str, Phase] = {}
    taxii.warm(target, 6 * args.workers)
    if partner is not None:
        taxii.warm(partner, 6 * args.workers)
    split = ingest_split(len(objects))
    say(f"  {target.server}: ingest {len(objects)} objects by POST")
    phases["ingest_100"] = taxii.ingest(
        target, taxii.envelopes(objects[:split], 100), Budget(args.budget * 2), "ingest_100"
    )
    phases["ingest_1000"] = taxii.ingest(
        target, taxii.envelopes(objects[split:], 1000), Budget(args.budget * 2), "ingest_1000"
    )
    taxii.warm_reads(target, 2 * args.workers)
    if target.database:
        say(f"  {target.server}: full pulls right after the load, before ANALYZE")
        phases["after_load_full_pull"] = taxii.pull(
            target, PAGE, Budget(args.budget), "after_load_full_pull"
        )
        if partner is not None:
            phases["after_load_partner_full_pull"] = taxii.pull(
                partner, PAGE, Budget(args.budget), "after_load_partner_full_pull"
            )
        pg.analyze(target.database)
    say(f"  {target.server}: full pull")
    phases["full_pull"] = taxii.pull(target, PAGE, Budget(args.budget), "full_pull")
    sampler = RssSampler(rss) if rss is not None else contextlib.nullcontext()
    boundaries: list[tuple[int, str | None]] = []
    with sampler:
        phases["version_all"] = taxii.pull(
            target,
            {**PAGE, "match[version]": "all"},
            Budget(args.budget),
            "version_all",
            on_page=lambda page: boundaries.append((page.count, page.date_last)),
        )
    if isinstance(sampler, RssSampler) and memory is not None:
        memory[f"{target.server} version_all pull"] = sampler.summary()
    say(f"  {target.server}: manifest, incremental, filters")
    phases["manifest"], dates = taxii.manifest_dates(target, Budget(args.budget), "manifest")
    tail = min(1000, max(1, len(objects) // 10))
    if len(dates) >= phases["version_all"].objects:
        point = taxii.incremental_point(dates, tail=tail)
    else:  # a manifest that cannot be paged (OpenTAXII 0.9.3 sends no next)
        point = taxii.boundary_point(boundaries, tail)
    if point is None:
        phases["incremental"] = Phase("incremental", notes=["no date_added to cut at"])
    else:
        added_after, expected = point
        phases["incremental"] = taxii.repeated_walks(
            target,
            {**PAGE, "added_after": added_after},
            Budget(args.budget),
            "incremental",
            args.repeats,
        )
        phases["incremental"].extra.update(added_after=added_after, versions_after=expected)
    phases["match_type"] = taxii.repeated_walks(
        target, {**PAGE, "match[type]": "malware"}, Budget(args.budget), "match_type", args.repeats
    )
    phases["match_id"] = taxii.by_ids(
        target, sample_ids(objects, args.repeats * 5), Budget(args.budget), "match_id"
    )
    say(f"  {target.server}: {args.readers} concurrent readers")
    phases[f"concurrent_{args.readers}"] = taxii.concurrent(
        target, PAGE, args.readers, Budget(args.budget), f"concurrent_{args.readers}"
    )
    return phases


def ingest_at_scale(intel: Intelshare, args: argparse.Namespace) -> dict[str, Any]:
    """POST ``--ingest-count`` objects in 1,000-object envelopes into a collection
    already holding ``--ingest-base`` versions (bulk-loaded in-process, the feed's
    first objects; the POSTed ones are the feed's next)."""
    base, count = args.ingest_base, args.ingest_count
    alias = f"ingest-at-{base}"
    collection = intel.setup("collection", "--alias", alias)
    say(f"ingest at scale: bulk-load {base} versions, then POST {count} more")
    loaded = intel.setup("load", "--alias", alias, "--count", str(base), "--seed", str(args.seed))
    more = list(islice(generate(base + count, args.seed), base, base + count))
    target = taxii.Target("intelshare", intel.collection_url(collection["id"]), STAFF, args.timeout)
    taxii.warm(target, 6 * args.workers)
    phase = taxii.ingest(target, taxii.envelopes(more, 1000), Budget(args.budget * 2), "ingest")
    stats = intel.setup("stats", "--alias", alias)
    return {"base": base, "load": loaded, "ingest_1000": phase.summary(), "stored": stats}


def after_load(phases: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """Each first pull after the load against the same pull after ``ANALYZE`` (the
    partner's is the policy line's, which sees everything): time per object ratio
    (1.0 = the plans did not wait for statistics) and p50 ratio."""
    out = {}
    partner = (policy.get("full_pull_sees_all") or {}).get("partner")
    for name, a, b in (
        ("staff_full_pull", phases.get("after_load_full_pull"), phases.get("full_pull")),
        ("partner_full_pull", phases.get("after_load_partner_full_pull"), partner),
    ):
        if not a or not b or not a.get("objects") or not b.get("objects"):
            continue
        out[name] = {
            "after_load_per_s": a["objects_per_s"],
            "after_analyze_per_s": b["objects_per_s"],
            "time_ratio": round((a["seconds"] / a["objects"]) / (b["seconds"] / b["objects"]), 2),
            "p50_ratio": round(a["p50_ms"] / b["p50_ms"], 2)
            if a["p50_ms"] and b["p50_ms"]
            else None,
        }
    return out


def summarize(phases: dict[str, Phase]) -> dict[str, Any]:
    return {name: phase.summary() for name, phase in phases.items()}


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, mine in ours.items():
        peer = theirs.get(name)
        if not peer:
            continue
        rate = (
            mine["objects_per_s"] / peer["objects_per_s"]
            if mine.get("objects_per_s") and peer.get("objects_per_s")
            else None
        )
        p50 = peer["p50_ms"] / mine["p50_ms"] if mine.get("p50_ms") and peer.get("p50_ms") else None
        out[name] = {
            "rate_ratio": None if rate is None else round(rate, 1),
            "p50_ratio": None if p50 is None else round(p50, 1),
            "peer_errors": peer.get("errors"),
            "peer_truncated": peer.get("truncated"),
        }
    return out


# --- intelshare extras: policy, limit, scale ---------------------------------------------


def profiled(
    server: Process, name: str, out_dir: Path, results: dict[str, Any], body: Callable[[], Any]
) -> None:
    exe = pyspy.find()
    if exe is None:
        results["profiles"][name] = "skipped: py-spy not installed (.venv/bin/pip install py-spy)"
        body()
        return
    raw = out_dir / f"profile-{name}.txt"
    recording = pyspy.Recording(exe, server.pid or 0, raw)
    time.sleep(1.0)  # let py-spy attach to every worker
    try:
        body()
    finally:
        error = recording.stop()
    results["profiles"][name] = (
        f"py-spy failed: {error}" if error else {**pyspy.summarize(raw), "raw": str(raw)}
    )


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "meta": meta(args),
        "servers": {},
        "ratios": {},
        "policy": {},
        "limit": {},
        "memory": {},
        "profiles": {},
        "unavailable": {},
    }
    work = args.workdir
    out_dir = args.output.parent
    why = pg.reachable()
    if why:
        raise SystemExit(f"PostgreSQL is not reachable on 127.0.0.1:5432: {why}")
    intel_sizes = sorted(
        {
            *args.sizes,
            *([args.medallion_size] if "medallion" in args.peers else []),
            *([args.opentaxii_size] if "opentaxii" in args.peers else []),
        }
    )
    biggest = max([*intel_sizes, args.medallion_size, args.opentaxii_size])
    say(f"generating {biggest} objects (seed {args.seed})")
    started = time.perf_counter()
    objects = list(generate(biggest, args.seed))
    seconds = time.perf_counter() - started
    # The client keeps these objects for the whole run: frozen, so that its garbage
    # collector does not rescan them while it parses pages (it slowed every phase,
    # the HTTP floor's 2.7x, measured: p50 5.2 ms -> 1.9 ms).
    gc.collect()
    gc.freeze()
    results["generator"] = {
        "objects": len(objects),
        "seconds": round(seconds, 3),
        "objects_per_s": round(len(objects) / seconds),
    }
    servers: list[Process] = []
    try:
        say(f"database {args.database}: recreate and migrate")
        pg.recreate(args.database)
        intel = Intelshare(work / "intelshare", pg.url(args.database), workers=args.workers)
        intel.manage("migrate", "--noinput")
        intel.setup("world")
        intel.start(STAFF)
        servers.append(intel)
        results["meta"]["postgres"] = pg.settings(args.database)
        ours: dict[str, Any] = {}
        results["servers"]["intelshare"] = ours
        for size in intel_sizes:
            say(f"intelshare @{size}")
            collection = intel.setup("collection", "--alias", f"cmp-{size}")
            url = intel.collection_url(collection["id"])
            target = taxii.Target("intelshare", url, STAFF, args.timeout, args.database)
            with step(results, f"intelshare @{size}"):
                phases = summarize(
                    suite(
                        target,
                        objects[:size],
                        args,
                        rss=intel,
                        memory=results["memory"],
                        partner=taxii.Target("partner", url, PARTNER_ALL, args.timeout),
                    )
                )
                ours[str(size)] = phases
                stats = intel.setup("stats", "--alias", f"cmp-{size}")
                phases["full_pull"]["stored_versions"] = stats["versions"]
                results["policy"][str(size)] = policy_line(intel, url, phases, args)
                results.setdefault("after_load", {})[str(size)] = after_load(
                    phases, results["policy"][str(size)]
                )
                results.setdefault("counts", {})[str(size)] = stats
                limit = pg.copy_limit(args.database, collection["id"])
                server_rate = phases["version_all"]["objects_per_s"]
                limit["server_version_all_per_s"] = server_rate
                limit["server_share"] = (
                    round(server_rate / limit["objects_per_s"], 3)
                    if server_rate and limit["objects_per_s"]
                    else None
                )
                results["limit"][str(size)] = limit
                results.setdefault("floor", {})[str(size)] = floor_line(
                    target, phases, args, work / f"floor-{size}"
                )
        for peer in args.peers:
            with step(results, peer):
                run_peer(peer, args, objects, work, servers, results)
        if args.ingest_base:
            with step(results, "ingest at scale"):
                results["ingest_at_scale"] = ingest_at_scale(intel, args)
        if args.scale:
            with step(results, "scale sweep"):
                scale_sweep(intel, args, results)
        with step(results, "validation cost"):
            say("validation cost: stix2-validator vs intelshare's structural check")
            results["validation"] = intel.setup(
                "validate-cost",
                "--seed",
                str(args.seed),
                "--count",
                "300" if args.quick else "3000",
                "--validator-count",
                "50" if args.quick else "500",
            )
        if args.profile:
            with step(results, "profiles"):
                profiles(intel, args, objects, out_dir, results)
    finally:
        for server in reversed(servers):
            server.stop()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                pg.drop(args.database)
            if "opentaxii" in args.peers:
                with contextlib.suppress(Exception):
                    pg.drop(opentaxii.DBNAME)
        results["meta"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        # Server processes keep the code they started with; helpers re-import it.
        results["meta"]["commit_finished"] = git("rev-parse", "--short", "HEAD")
        results["meta"]["loadavg"] = [
            {"at": at, "step": step, "1m_5m_15m": list(load)} for at, step, load in LOAD
        ]
    return results


def run_peer(
    peer: str,
    args: argparse.Namespace,
    objects: list[dict[str, Any]],
    work: Path,
    servers: list[Process],
    results: dict[str, Any],
) -> None:
    if peer == "medallion":
        size = args.medallion_size
        # medallion 3.0.0 reads every "version" as a timestamp: no extension-definition.
        objects = [o for o in objects if o["type"] != "extension-definition"]
        results["meta"]["medallion_content"] = (
            "the feed without its extension-definition: medallion 3.0.0 answers HTTP 500 "
            "to GET objects once it stores one (it parses the property 'version' as a "
            "timestamp)"
        )
        server: Process = Medallion(work / "medallion")
        try:
            server.start()  # type: ignore[attr-defined]
        except Exception as exc:
            results["unavailable"]["medallion"] = str(exc)[:1000]
            return
        servers.append(server)
        url = server.collection_url()  # type: ignore[attr-defined]
        auth = ("bench", "bench-medallion-pass")
        database = None
        results["meta"]["medallion"] = "medallion 3.0.0, memory backend, gunicorn 1 worker"
    else:
        size = args.opentaxii_size
        # OpenTAXII 0.9.3 reads every obj["modified"]: no marking-definitions.
        objects = [o for o in objects if "modified" in o]
        results["meta"]["opentaxii_content"] = (
            "the feed without objects lacking 'modified' (the TLP marking-definitions): "
            "OpenTAXII 0.9.3 answers HTTP 500 to an envelope containing one (KeyError)"
        )
        venv = work / "opentaxii-venv"
        try:
            say("opentaxii: install into its own virtualenv")
            results["meta"]["opentaxii"] = opentaxii.install(venv)
            ot = opentaxii.OpenTaxii(work / "opentaxii", venv, workers=args.workers)
            ot.prepare()
            collection_id = ot.add_collection(f"cmp-{size}")
            ot.start()
        except Exception as exc:
            results["unavailable"]["opentaxii"] = str(exc)[:1000]
            return
        servers.append(ot)
        server, url, auth = ot, ot.collection_url(collection_id), opentaxii.USER
        database = opentaxii.DBNAME
    say(f"{peer} @{size}")
    target = taxii.Target(peer, url, auth, args.timeout, database)
    phases = summarize(suite(target, objects[:size], args, rss=server, memory=results["memory"]))
    results["servers"][peer] = {str(size): phases}
    mine = results["servers"]["intelshare"].get(str(size))
    if mine:
        results["ratios"][peer] = {"size": size, "phases": ratios(mine, phases)}
    server.stop()
    servers.remove(server)


def profiles(
    intel: Intelshare,
    args: argparse.Namespace,
    objects: list[dict[str, Any]],
    out_dir: Path,
    results: dict[str, Any],
) -> None:
    size = max(args.sizes)
    collection = intel.setup("collection", "--alias", f"cmp-{size}")
    url = intel.collection_url(collection["id"])
    staff = taxii.Target("intelshare", url, STAFF, args.timeout)
    partner = taxii.Target("intelshare-partner", url, PARTNER, args.timeout)
    say("profile: full pull")
    profiled(
        intel,
        "full_pull",
        out_dir,
        results,
        lambda: taxii.pull(staff, PAGE, Budget(args.budget), "full_pull"),
    )
    say("profile: policy pull")
    profiled(
        intel,
        "policy_pull",
        out_dir,
        results,
        lambda: taxii.pull(partner, PAGE, Budget(args.budget), "policy_pull"),
    )
    everything = taxii.Target("intelshare-partner-all", url, PARTNER_ALL, args.timeout)
    taxii.warm(everything, 6 * args.workers)
    say("profile: policy pull, the partner that sees everything")
    profiled(
        intel,
        "policy_pull_sees_all",
        out_dir,
        results,
        lambda: taxii.pull(everything, PAGE, Budget(args.budget), "policy_pull_sees_all"),
    )
    fresh = intel.setup("collection", "--alias", "profile-ingest")
    target = taxii.Target("intelshare", intel.collection_url(fresh["id"]), STAFF, args.timeout)
    part = objects[: min(len(objects), 20_000)]
    say(f"profile: ingest {len(part)} objects in envelopes of 1,000")
    profiled(
        intel,
        "ingest_1000",
        out_dir,
        results,
        lambda: taxii.ingest(
            target, taxii.envelopes(part, 1000), Budget(args.budget), "ingest_1000"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results = run(args)
    report.write(results, args.output)
    args.output.with_suffix(".partial.json").unlink(missing_ok=True)
    sys.stdout.write(report.render(results))
    sys.stdout.write(f"\nJSON: {args.output}\n")
    return 1 if results.get("errors") else 0
