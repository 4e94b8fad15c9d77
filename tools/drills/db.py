"""PostgreSQL restarted under load: during a stream of POSTs and during multi-page pulls."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import requests

from tools.drills import machine
from tools.drills.objects import batch, key
from tools.drills.result import Result
from tools.drills.stack import Stack
from tools.drills.taxii import Client, Tally, basic, retry_after

SMALL, LARGE = 20, 120  # objects per envelope: inline, and over the inline limit (worker)
INLINE_MAX = 50


def _clients(stack: Stack, world: dict[str, Any], who: str) -> Client:
    user = world["users"][who]
    return Client(
        stack.base_url, basic(user["username"], user["password"]), collection=world["collection"]
    )


def _restart(result: Result, down: float) -> tuple[float, float]:
    """Restart PostgreSQL; returns (monotonic start, monotonic back)."""
    began = time.monotonic()
    took = machine.pg_restart(down_seconds=down)
    result.numbers["pg_restart_seconds"] = round(took, 2)
    return began, began + took


def pg_post(workdir: Path, *, down: float, writers: int = 6) -> Result:
    """A stream of POSTs (inline and worker-bound envelopes) across a restart."""
    result = Result("pg-post")
    with Stack(workdir, env={"INTELSHARE_INLINE_MAX_OBJECTS": str(INLINE_MAX)}) as stack:
        world = stack.prepare()
        stack.start_web()
        stack.start_worker()
        pids_before = stack.web_pids()
        tally = Tally()
        accepted: dict[str, list[tuple[str, str]]] = {}  # status id -> keys sent
        refused: list[tuple[str, str]] = []  # keys of envelopes answered 503
        ambiguous: list[tuple[str, str]] = []  # keys of envelopes without an answer
        stop = threading.Event()
        counter = itertools.count()
        lock = threading.Lock()
        accepted_at: list[float] = []

        def writer() -> None:
            client = _clients(stack, world, "writer")
            try:
                while not stop.is_set():
                    n = next(counter)
                    size = LARGE if n % 5 == 4 else SMALL
                    objects = batch("pg-post", n * 1000, size)
                    keys = [key(o) for o in objects]
                    try:
                        response = client.post_objects(objects)
                    except requests.RequestException as exc:
                        tally.saw(None, error=str(exc))
                        with lock:
                            ambiguous.extend(keys)
                        continue
                    tally.saw(response)
                    if response.status_code == 202:
                        status = orjson.loads(response.content)
                        with lock:
                            accepted[status["id"]] = keys
                            accepted_at.append(time.monotonic())
                    else:
                        with lock:
                            refused.extend(keys)
                        if response.status_code == 503:
                            time.sleep(retry_after(response, cap=0.5))
                    time.sleep(0.02)
            finally:
                client.close()

        threads = [threading.Thread(target=writer, daemon=True) for _ in range(writers)]
        for thread in threads:
            thread.start()
        time.sleep(4)
        began, back = _restart(result, down)
        time.sleep(10)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

        # Worker-bound envelopes whose task met the outage stay pending until the beat
        # task intelshare.resume_pending_statuses re-enqueues them (after 2 minutes);
        # the drill calls submissions.resume_pending itself instead of waiting.
        resumed = _settle(stack, result)
        statuses = {row[0]: row for row in stack.django("statuses")["statuses"]}
        stored = [tuple(v) for v in stack.django("versions")["versions"]]
        pids_after = stack.web_pids()

    reported: set[tuple[str, str]] = set()
    incomplete = []
    for status_id, keys in accepted.items():
        row = statuses.get(status_id)
        if row is None or row[1] != "complete" or row[3] != len(keys) or row[4] or row[5]:
            incomplete.append(status_id)
        reported.update(keys)
    stored_set = set(stored)
    orphans = [sid for sid in statuses if sid not in accepted]
    refused_stored = [k for k in refused if k in stored_set]

    result.numbers.update(
        {
            "requests": sum(tally.codes.values()),
            "answers": dict(tally.codes),
            "accepted_envelopes": len(accepted),
            "stored_versions": len(stored),
            "reported_successes": len(reported),
            "refused_objects": len(refused),
            "resumed_statuses": len(resumed),
        }
    )
    result.check(
        not tally.problems and "500" not in tally.codes,
        f"answers {tally.summary()}; problems: {tally.problems[:3] or 'none'}",
    )
    result.check(
        tally.codes.get("503", 0) > 0,
        "the outage was hit: some POSTs were answered 503 + Retry-After with a TAXII error message",
    )
    result.check(len(stored) == len(stored_set), f"no duplicate version ({len(stored)} rows)")
    result.check(
        stored_set == reported,
        f"versions stored ({len(stored_set)}) == successes reported by the 202 "
        f"statuses ({len(reported)}); missing {len(reported - stored_set)}, "
        f"unreported {len(stored_set - reported)}",
    )
    result.check(
        not refused_stored and not orphans,
        f"nothing of a refused POST is stored ({len(refused_stored)} versions, "
        f"{len(orphans)} orphan status rows)",
    )
    result.check(
        not incomplete,
        f"every accepted status complete with exact counts "
        f"({len(accepted) - len(incomplete)}/{len(accepted)})",
    )
    after = [t for t in accepted_at if t >= back]
    _recovered(
        result,
        min(after) if after else None,
        began,
        back,
        "202",
        "first 202",
        pids_before,
        pids_after,
    )
    if ambiguous:
        result.note(f"{len(ambiguous)} objects were in POSTs that got no answer")
    if resumed:
        result.note(
            f"{len(resumed)} worker-bound statuses were left pending by a task that "
            "met the outage; resumed with submissions.resume_pending (the beat task's "
            "job after 2 min)"
        )
    return result


def _settle(stack: Stack, result: Result, timeout: float = 120) -> list[str]:
    """Wait for every status to complete; resume the stuck ones once (see caller)."""
    deadline = time.monotonic() + timeout
    resumed: list[str] = []
    quiet_since = time.monotonic()
    last_pending = -1
    while time.monotonic() < deadline:
        rows = stack.django("statuses")["statuses"]
        pending = [row for row in rows if row[1] != "complete"]
        if not pending:
            return resumed
        if len(pending) != last_pending:
            last_pending, quiet_since = len(pending), time.monotonic()
        if not resumed and time.monotonic() - quiet_since > 8:
            resumed = stack.django("resume")["resumed"]
        time.sleep(1)
    result.note("statuses still pending after the settle timeout")
    return resumed


def pg_pull(
    workdir: Path, *, down: float, readers: int = 4, count: int = 3000, page: int = 50
) -> Result:
    """Readers following ``next`` through a multi-page pull across a restart."""
    result = Result("pg-pull")
    with Stack(workdir) as stack:
        world = stack.prepare()
        stack.django("load", count=count, label="pg-pull")
        stack.start_web()
        pids_before = stack.web_pids()
        tally = Tally()
        got: list[list[tuple[str, str]]] = [[] for _ in range(readers)]
        pages: list[int] = [0] * readers
        failures: list[str] = []
        back_at: list[float] = []
        first_200_after: list[float] = []

        def reader(i: int) -> None:
            client = _clients(stack, world, "reader")
            params: dict[str, Any] = {"limit": page}
            deadline = time.monotonic() + 150
            try:
                while time.monotonic() < deadline:
                    try:
                        response = client.get(client.objects_path, params)
                    except requests.RequestException as exc:
                        tally.saw(None, error=str(exc))
                        time.sleep(0.5)
                        continue
                    tally.saw(response)
                    if response.status_code == 503:
                        time.sleep(retry_after(response, cap=1.0))
                        continue  # the same page again: next tokens are stateless
                    if response.status_code != 200:
                        failures.append(f"reader {i}: HTTP {response.status_code}")
                        return
                    if back_at and not first_200_after:
                        first_200_after.append(time.monotonic())
                    body = orjson.loads(response.content)
                    got[i].extend(key(o) for o in body.get("objects", []))
                    pages[i] += 1
                    if not body.get("more"):
                        return
                    params = {"limit": page, "next": body["next"]}
                    time.sleep(0.1)
                failures.append(f"reader {i}: did not finish in time")
            finally:
                client.close()

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        began, back = _restart(result, down)
        back_at.append(back)
        for thread in threads:
            thread.join(timeout=160)
        pids_after = stack.web_pids()
        expected = {tuple(v) for v in stack.django("versions")["versions"]}

    result.numbers.update(
        {
            "requests": sum(tally.codes.values()),
            "answers": dict(tally.codes),
            "pages_per_reader": pages,
            "versions": len(expected),
        }
    )
    result.check(
        not tally.problems and "500" not in tally.codes,
        f"answers {tally.summary()}; problems: {tally.problems[:3] or 'none'}",
    )
    result.check(
        tally.codes.get("503", 0) > 0,
        "the outage was hit: some pages were answered 503 + Retry-After with a TAXII error message",
    )
    result.check(not failures, f"every reader finished ({failures[:3] or 'all'})")
    exact = [len(g) == len(set(g)) == len(expected) and set(g) == expected for g in got]
    result.check(
        all(exact),
        f"each of {readers} readers got exactly the {len(expected)} "
        f"versions, no duplicate, no gap (got {[len(g) for g in got]})",
    )
    _recovered(
        result,
        first_200_after[0] if first_200_after else None,
        began,
        back,
        "200",
        "first page",
        pids_before,
        pids_after,
    )
    return result


def _recovered(
    result: Result,
    first_ok: float | None,
    began: float,
    back: float,
    code: str,
    what: str,
    pids_before: Any,
    pids_after: Any,
) -> None:
    """The service came back by itself, in the same processes, once PostgreSQL did."""
    if first_ok is not None:
        recovery = first_ok - back
        result.numbers[f"first_{code}_after_pg_back_s"] = round(recovery, 2)
        result.check(
            recovery < 15,
            f"recovered by itself: {what} {recovery:.2f} s after "
            f"PostgreSQL accepted connections (restart took {back - began:.1f} s)",
        )
    else:
        result.check(False, f"no {code} after the restart")
    result.check(
        pids_before == pids_after,
        f"same gunicorn master and workers before and after ({pids_before})",
    )
