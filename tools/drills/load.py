"""``python -m tools.drills load``: readers and writers against gunicorn + PostgreSQL."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tools.drills import machine
from tools.drills.meters import RssSampler, memory_report, percentiles, postgres_pids, series
from tools.drills.objects import batch, key
from tools.drills.stack import Stack
from tools.drills.taxii import Client, basic
from tools.drills.traffic import SEED, Fingerprint, Writers, pull, reader_proc


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) / time.strftime("%Y%m%d-%H%M%S")
    say = _say
    try:
        with Stack(
            workdir,
            web_workers=args.web_workers,
            web_threads=args.web_threads,
            keep_alive=args.keep_alive,
        ) as stack:
            world = stack.prepare()
            stack.django("load", count=SEED, label="load-seed")
            seed_keys = [key(o) for o in batch("load-seed", 0, SEED)]
            stack.start_web()
            stack.start_worker(concurrency=1)
            say(
                f"stack up on {stack.base_url}: gunicorn {args.web_workers} workers x "
                f"{args.web_threads} threads (gthread, keep-alive {args.keep_alive} s), "
                f"1 Celery worker; {SEED} versions seeded"
            )
            reader_user = world["users"]["reader"]
            reader_auth = basic(reader_user["username"], reader_user["password"])

            sampler = RssSampler(stack, args.rss_every)
            ctx = mp.get_context("fork")
            stop, out = ctx.Event(), ctx.Queue()
            t0 = time.monotonic()
            sampler.start()
            procs = []
            ids = list(range(args.readers))
            for chunk in (ids[i :: args.reader_procs] for i in range(args.reader_procs)):
                proc = ctx.Process(
                    target=reader_proc,
                    args=(
                        chunk,
                        stack.base_url,
                        reader_auth,
                        world["collection"],
                        args.full_every,
                        args.think,
                        stop,
                        out,
                    ),
                    daemon=True,
                )
                proc.start()
                procs.append(proc)
            writers = Writers(stack, world, args.writers, args.writer_think)
            writers.start()

            def groups() -> dict[str, list[int]]:
                return {
                    "gunicorn": stack.web_pids(),
                    "celery": stack.worker_pids(),
                    "postgres (all databases)": postgres_pids(),
                    "load generator": [os.getpid(), *(p.pid for p in procs if p.pid)],
                }

            sampler.groups = groups
            end = t0 + args.minutes * 60
            while time.monotonic() < end:
                time.sleep(min(30, max(0.0, end - time.monotonic())))
                say(
                    f"  {round((time.monotonic() - t0) / 60, 1)} min: {len(writers.sent)} "
                    f"envelopes accepted, {len(writers.errors)} writer errors"
                )
            cpu = sampler.cpu.finish(groups())
            writers.finish()
            say("writers stopped; waiting for every pending status")
            statuses = stack.wait_statuses(set(writers.sent), timeout=300, poll=2)
            stop.set()
            reports = [out.get(timeout=300) for _ in range(args.readers)]
            for proc in procs:
                proc.join(timeout=60)
            sampler.stopping.set()
            sampler.join(timeout=10)
            final, final_errors = _final_pull(stack, world)
            stored = [tuple(v) for v in stack.django("versions")["versions"]]
        return _report(
            args,
            workdir,
            t0,
            seed_keys,
            writers,
            statuses,
            reports,
            final,
            final_errors,
            stored,
            sampler,
            cpu,
        )
    finally:
        machine.ensure_up()


def _final_pull(stack: Stack, world: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    user = world["users"]["reader"]
    client = Client(
        stack.base_url, basic(user["username"], user["password"]), collection=world["collection"]
    )
    got: list[tuple[str, str]] = []
    errors: list[str] = []
    try:
        pull(client, {"limit": 1000, "match[version]": "all"}, [], "final", got.append, errors)
    except Exception as exc:
        errors.append(f"final pull: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    return got, errors


def _report(
    args: argparse.Namespace,
    workdir: Path,
    t0: float,
    seed_keys: list[tuple[str, str]],
    writers: Writers,
    statuses: dict[str, list[Any]],
    reports: list[dict[str, Any]],
    final: list[tuple[str, str]],
    final_errors: list[str],
    stored: list[tuple[str, str]],
    sampler: RssSampler,
    cpu: dict[str, float],
) -> int:
    say = _say
    window_end = t0 + args.minutes * 60
    samples = list(writers.samples)
    for report in reports:
        samples.extend(tuple(s) for s in report["samples"])  # type: ignore[misc]
    in_window = [s for s in samples if s[1] <= window_end]
    errors = list(writers.errors) + [e for r in reports for e in r["errors"]] + final_errors
    latency = {
        kind: percentiles([s[2] for s in in_window if s[0] == kind])
        for kind in sorted({s[0] for s in in_window})
    }
    latency["all"] = percentiles([s[2] for s in in_window])
    served = sum(s[4] for s in in_window if s[0] in ("full", "incremental"))
    codes: dict[str, int] = defaultdict(int)
    for s in samples:
        codes[str(s[3])] += 1

    accepted: set[tuple[str, str]] = set(seed_keys)
    inexact = []
    for status_id, keys in writers.sent.items():
        row = statuses.get(status_id)
        if row is None or row[1] != "complete" or row[3] != len(keys) or row[4] or row[5]:
            inexact.append(status_id)
        accepted.update(keys)
    final_set = set(final)
    duplicated = len(final) - len(final_set)
    lost = len(accepted - final_set)
    unexpected = len(final_set - accepted)
    expected_print = Fingerprint()
    for k in accepted:
        expected_print.add(k)
    stream_bad = [r["reader"] for r in reports if tuple(r["stream"]) != expected_print.value()]
    full_dups = sum(r["duplicates_in_full"] for r in reports)
    memory = memory_report(sampler.samples, t0, args.minutes)
    grown = {
        name: m
        for name, m in memory.items()
        if m["second_min_mib"]
        and m["last_min_mib"]
        and m["last_min_mib"] > m["second_min_mib"] * 1.2 + 5
    }

    result = {
        "config": vars(args),
        "requests": len(samples),
        "answers": dict(codes),
        "requests_per_second": round(len(in_window) / (args.minutes * 60), 1),
        "versions_served_per_second": round(served / (args.minutes * 60)),
        "latency": latency,
        "errors": errors[:50],
        "error_count": len(errors),
        "envelopes_accepted": len(writers.sent),
        "statuses_inexact": len(inexact),
        "versions_accepted": len(accepted),
        "final_pull_versions": len(final),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "db_versions": len(stored),
        "db_matches": set(stored) == accepted,
        "readers_stream_mismatch": stream_bad,
        "duplicates_within_full_pulls": full_dups,
        "memory": memory,
        "memory_grew_after_warmup": sorted(grown),
        "cpu_cores_used": cpu,
        "cpu_cores_available": os.cpu_count(),
        "rss_series_mib": series(sampler.samples, t0),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "load.json").write_text(json.dumps(result, indent=1, default=str))
    say(
        f"\nload: {args.readers} readers, {args.writers} writers, {args.minutes} min; "
        f"{result['requests']} requests ({result['requests_per_second']}/s, "
        f"{result['versions_served_per_second']} versions served/s), answers {dict(codes)}"
    )
    for kind, stats in latency.items():
        say(f"  latency {kind:12s} {stats}")
    say(f"  CPU cores used over the window (of {os.cpu_count()}): {cpu}")
    say(
        f"  accepted {len(accepted)} versions ({len(writers.sent)} envelopes + {SEED} seeded); "
        f"final full pull {len(final)}: lost {lost}, duplicated {duplicated}, unexpected "
        f"{unexpected}; database {len(stored)} (matches: {result['db_matches']})"
    )
    say(
        f"  readers whose incremental stream != accepted set: {stream_bad or 'none'}; "
        f"duplicates inside full pulls: {full_dups}; inexact statuses: {len(inexact)}"
    )
    say("  RSS MiB (first minute / second minute / last minute / peak):")
    for name, m in memory.items():
        say(
            f"    {name:24s} {m['first_min_mib']} / {m['second_min_mib']} / "
            f"{m['last_min_mib']} / {m['peak_mib']}"
        )
    ok = (
        not errors
        and not lost
        and not duplicated
        and not unexpected
        and not inexact
        and result["db_matches"]
        and not stream_bad
        and not full_dups
        and not grown
    )
    say(
        f"{'PASS' if ok else 'FAIL'} load: errors {len(errors)} {errors[:3]}, lost {lost}, "
        f"duplicated {duplicated}, memory grown after warm-up: {sorted(grown) or 'none'} "
        f"(results in {workdir / 'load.json'})"
    )
    return 0 if ok else 1


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.drills load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument(
        "--keep-alive",
        type=int,
        default=2,
        help="gunicorn --keep-alive seconds (2 = gunicorn's default)",
    )
    parser.add_argument(
        "--reader-procs", type=int, default=5, help="processes the reader threads are spread over"
    )
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds a reader waits between incremental pulls"
    )
    parser.add_argument("--writer-think", type=float, default=0.5)
    parser.add_argument(
        "--full-every", type=float, default=60.0, help="seconds between a reader's extra full pulls"
    )
    parser.add_argument("--rss-every", type=float, default=5.0)
    parser.add_argument("--workdir", default="/tmp/intelshare-tools/drills/load")
    args = parser.parse_args(argv)
    args.reader_procs = max(1, min(args.reader_procs, args.readers))
    return run(args)
