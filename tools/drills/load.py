"""``python -m tools.drills load``: readers and writers against gunicorn + PostgreSQL.

Issue 7, "Load": 50 concurrent readers and 5 writers for 5 minutes; zero
errors, zero lost or duplicated versions (a final full pull compared with
everything accepted), p50/p95/p99 latency, and the RSS of every gunicorn and
Celery process sampled over time (flat after warm-up).

- Writers (threads of this process) POST envelopes as the writer partner:
  mostly 50 objects (stored inline), every 25th 1,500 objects (over the inline
  limit: a Celery task). Every object is new; all are TLP:GREEN.
- Readers (threads in ``--reader-procs`` child processes) pull as the reader
  partner: first the whole collection following ``next``, then incremental
  pulls with ``added_after`` = the last ``X-TAXII-Date-Added-Last``, and every
  ``--full-every`` seconds an extra full pull following ``next``. Each reader
  keeps an order-free fingerprint (count and sum of 64-bit hashes) of what its
  own incremental stream delivered: after the writers stop, it must equal the
  fingerprint of everything accepted, i.e. no reader skipped or repeated a
  version.
- At the end: every pending status is waited for (its counts must be exact),
  then one full pull with ``match[version]=all`` is compared with the accepted
  set (lost, duplicated, unexpected).

The load generator shares the machine's two cores with the servers, so
latencies include some client-side queuing; they are upper bounds.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import requests

from tools.benchmarks.servers import rss_kib
from tools.drills import machine
from tools.drills.objects import batch, key
from tools.drills.stack import Stack
from tools.drills.taxii import Client, basic

SEED = 5000
SMALL, LARGE, LARGE_EVERY = 50, 1500, 25
MASK = (1 << 64) - 1


def _hash(k: tuple[str, str]) -> int:
    digest = hashlib.blake2b(f"{k[0]}|{k[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Fingerprint:
    """Count and sum (mod 2^64) of 64-bit hashes: equal sets give equal prints."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0

    def add(self, k: tuple[str, str]) -> None:
        self.count += 1
        self.total = (self.total + _hash(k)) & MASK

    def value(self) -> tuple[int, int]:
        return self.count, self.total


# --- readers (child processes) -------------------------------------------------------------


def _pull(
    client: Client,
    params: dict[str, Any],
    samples: list[tuple[str, float, float, int, int]],
    kind: str,
    sink: Any,
    errors: list[str],
) -> str | None:
    """Follow ``next`` to the end; feed each object's key to ``sink``; returns the last
    ``X-TAXII-Date-Added-Last`` seen (None when nothing was returned). Raises on error."""
    last = None
    params = dict(params)
    while True:
        began = time.monotonic()
        try:
            response = client.get(client.objects_path, params)
        except requests.RequestException as exc:
            samples.append((kind, began, time.monotonic() - began, 0, 0))
            errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")
            raise
        elapsed = time.monotonic() - began
        if response.status_code != 200:
            samples.append((kind, began, elapsed, response.status_code, 0))
            errors.append(f"{kind}: HTTP {response.status_code}: {response.text[:150]}")
            raise RuntimeError("bad answer")
        body = orjson.loads(response.content)
        objects = body.get("objects", ())
        samples.append((kind, began, elapsed, response.status_code, len(objects)))
        for obj in objects:
            sink(key(obj))
        last = response.headers.get("X-TAXII-Date-Added-Last") or last
        if not body.get("more"):
            return last
        params = {k: v for k, v in params.items() if k != "next"}
        params["next"] = body["next"]


def _reader(
    n: int,
    base_url: str,
    auth: str,
    collection: str,
    full_every: float,
    think: float,
    stop: Any,
    out: Any,
) -> None:
    client = Client(base_url, auth, collection=collection)
    samples: list[tuple[str, float, float, int, int]] = []
    errors: list[str] = []
    stream = Fingerprint()
    duplicates_in_full = 0
    added_after: str | None = None
    # Stagger the extra full pulls over the period.
    next_full = time.monotonic() + full_every * ((n * 7919) % 100) / 100
    try:
        added_after = _pull(client, {"limit": 1000}, samples, "full", stream.add, errors)
        while not stop.is_set():
            if time.monotonic() >= next_full:
                seen: set[int] = set()
                count = [0]

                def sink(
                    k: tuple[str, str], seen: set[int] = seen, count: list[int] = count
                ) -> None:
                    count[0] += 1
                    seen.add(_hash(k))

                _pull(client, {"limit": 1000}, samples, "full", sink, errors)
                duplicates_in_full += count[0] - len(seen)
                next_full = time.monotonic() + full_every
            params: dict[str, Any] = {"limit": 500}
            if added_after:
                params["added_after"] = added_after
            added_after = (
                _pull(client, params, samples, "incremental", stream.add, errors) or added_after
            )
            stop.wait(think)
        # Catch up once the writers are done and every status is complete.
        params = {"limit": 1000, **({"added_after": added_after} if added_after else {})}
        _pull(client, params, samples, "incremental", stream.add, errors)
    except Exception as exc:
        errors.append(f"reader {n} stopped: {type(exc).__name__}: {str(exc)[:150]}")
    finally:
        client.close()
    out.put(
        {
            "reader": n,
            "samples": samples,
            "errors": errors,
            "stream": stream.value(),
            "duplicates_in_full": duplicates_in_full,
        }
    )


def _reader_proc(ids: list[int], *args: Any) -> None:
    threads = [threading.Thread(target=_reader, args=(n, *args)) for n in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- writers (threads here) ------------------------------------------------------------------


class Writers:
    def __init__(self, stack: Stack, world: dict[str, Any], count: int, think: float) -> None:
        user = world["users"]["writer"]
        self.auth = basic(user["username"], user["password"])
        self.stack, self.world, self.count, self.think = stack, world, count, think
        self.stop = threading.Event()
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.sent: dict[str, list[tuple[str, str]]] = {}
        self.samples: list[tuple[str, float, float, int, int]] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _run(self) -> None:
        client = Client(self.stack.base_url, self.auth, collection=self.world["collection"])
        try:
            while not self.stop.is_set():
                n = next(self.numbers)
                size = LARGE if n % LARGE_EVERY == LARGE_EVERY - 1 else SMALL
                objects = batch("load", n * 10_000, size)
                kind = "post-large" if size == LARGE else "post"
                began = time.monotonic()
                try:
                    response = client.post_objects(objects)
                except requests.RequestException as exc:
                    with self.lock:
                        self.samples.append((kind, began, time.monotonic() - began, 0, size))
                        self.errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")
                    continue
                with self.lock:
                    self.samples.append(
                        (kind, began, time.monotonic() - began, response.status_code, size)
                    )
                    if response.status_code == 202:
                        status = orjson.loads(response.content)
                        self.sent[status["id"]] = [key(o) for o in objects]
                    else:
                        self.errors.append(
                            f"{kind}: HTTP {response.status_code}: {response.text[:150]}"
                        )
                self.stop.wait(self.think)
        finally:
            client.close()


# --- memory ----------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """RSS of the gunicorn master and workers and the Celery master and children."""

    def __init__(self, stack: Stack, period: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.period = stack, period
        self.samples: list[tuple[float, str, int, int]] = []  # t, role, pid, KiB
        self.stopping = threading.Event()
        self.cpu = CpuTracker()
        self.groups: Any = None  # set by run(): () -> {group: [pid, ...]}

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.groups is not None:
                self.cpu.observe(self.groups())
            web, worker = self.stack.web_pids(), self.stack.worker_pids()
            for role, pids in (("gunicorn", web), ("celery", worker)):
                for i, pid in enumerate(pids):
                    kib = rss_kib(pid)
                    if kib is not None:
                        name = f"{role}-{'master' if i == 0 else 'worker'}"
                        self.samples.append((now, name, pid, kib))
            self.stopping.wait(self.period)


def _cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` (all its threads), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuTracker:
    """CPU time of groups of processes over a window, sampled every few seconds, so
    that PostgreSQL backends which come and go (CONN_MAX_AGE) are counted: a process
    first seen after the start counts from zero. Lower bounds: a process that lived
    between two samples is missed."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.began: float | None = None
        self.ended: float | None = None
        self.busy: tuple[int, int] = (0, 0)
        self.lock = threading.Lock()

    def observe(self, groups: dict[str, list[int]]) -> None:
        with self.lock:
            if self.ended is not None:
                return
            starting = self.began is None
            for name, pids in groups.items():
                for pid in pids:
                    ticks = _cpu_ticks(pid)
                    if ticks:
                        self.first.setdefault((name, pid), ticks if starting else 0)
                        self.last[(name, pid)] = ticks
            if starting:
                self.began, self.busy = time.monotonic(), _machine_busy()

    def finish(self, groups: dict[str, list[int]]) -> dict[str, float]:
        self.observe(groups)
        with self.lock:
            self.ended = time.monotonic()
            seconds = self.ended - (self.began or self.ended) or 1.0
            tick = os.sysconf("SC_CLK_TCK")
            used: dict[str, float] = defaultdict(float)
            for (name, pid), ticks in self.last.items():
                used[name] += (ticks - self.first[(name, pid)]) / tick / seconds
            busy = _machine_busy()
            used["machine (everything)"] = (
                (os.cpu_count() or 1) * (busy[0] - self.busy[0]) / max(1, busy[1] - self.busy[1])
            )
        return {name: round(value, 2) for name, value in used.items()}


# --- the run ---------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def q(p: float) -> float:
        return round(1000 * values[min(len(values) - 1, int(p * len(values)))], 1)

    return {
        "n": len(values),
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": round(1000 * values[-1], 1),
    }


def _memory(
    samples: list[tuple[float, str, int, int]], t0: float, minutes: float
) -> dict[str, dict[str, Any]]:
    by_pid: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for t, name, pid, kib in samples:
        by_pid[(name, pid)].append((t - t0, kib))
    end = minutes * 60
    report = {}
    for (name, pid), points in sorted(by_pid.items()):

        def mean(lo: float, hi: float, points: list[tuple[float, int]] = points) -> float | None:
            chosen = [kib for t, kib in points if lo <= t < hi]
            return round(statistics.mean(chosen) / 1024, 1) if chosen else None

        first, second, last = mean(0, 60), mean(60, 120), mean(end - 60, end)
        peak = round(max(kib for _, kib in points) / 1024, 1)
        report[f"{name}:{pid}"] = {
            "first_min_mib": first,
            "second_min_mib": second,
            "last_min_mib": last,
            "peak_mib": peak,
        }
    return report


def _series(
    samples: list[tuple[float, str, int, int]], t0: float
) -> dict[str, list[tuple[int, float]]]:
    """Per process: (second since the start, MiB) for every sample."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for t, name, pid, kib in samples:
        series[f"{name}:{pid}"].append((round(t - t0), round(kib / 1024, 1)))
    return series


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
                    target=_reader_proc,
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
                    "postgres (all databases)": _postgres_pids(),
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
        _pull(client, {"limit": 1000, "match[version]": "all"}, [], "final", got.append, errors)
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
        kind: _percentiles([s[2] for s in in_window if s[0] == kind])
        for kind in sorted({s[0] for s in in_window})
    }
    latency["all"] = _percentiles([s[2] for s in in_window])
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
    memory = _memory(sampler.samples, t0, args.minutes)
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
        "rss_series_mib": _series(sampler.samples, t0),
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
