"""Redis restarted while tasks are queued and while a worker stores a large envelope."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import requests

from tools.drills import machine
from tools.drills.objects import batch, key
from tools.drills.result import Result
from tools.drills.stack import Stack, queue_length
from tools.drills.taxii import Client, Tally, basic

INLINE_MAX = 10


def _client(stack: Stack, world: dict[str, Any], who: str) -> Client:
    user = world["users"][who]
    return Client(
        stack.base_url, basic(user["username"], user["password"]), collection=world["collection"]
    )


def _exact(
    result: Result,
    rows: dict[str, list[Any]],
    sent: dict[str, list[tuple[str, str]]],
    stored: list[tuple[str, str]],
) -> None:
    bad = [
        sid
        for sid, keys in sent.items()
        if sid not in rows
        or rows[sid][1] != "complete"
        or (rows[sid][2], rows[sid][3], rows[sid][4], rows[sid][5]) != (len(keys), len(keys), 0, 0)
    ]
    result.check(
        not bad,
        f"{len(sent) - len(bad)}/{len(sent)} statuses complete with exact "
        f"counts (total == success, 0 failed, 0 pending)"
        + (f"; not: {[rows.get(s) for s in bad][:3]}" if bad else ""),
    )
    expected = {k for keys in sent.values() for k in keys}
    stored_set = set(stored)
    result.check(
        len(stored) == len(stored_set) and stored_set == expected,
        f"versions stored {len(stored)} == objects accepted {len(expected)}, "
        f"no duplicate, none missing ({len(expected - stored_set)})",
    )


def _post(client: Client, objects: list[dict[str, Any]], tally: Tally) -> str | None:
    try:
        response = client.post_objects(objects)
    except requests.RequestException as exc:
        tally.saw(None, error=str(exc))
        return None
    tally.saw(response)
    if response.status_code != 202:
        return None
    status = orjson.loads(response.content)
    return str(status["id"])


def redis_queued(workdir: Path) -> Result:
    """Envelopes queued while no worker runs; Redis restarted; requests while Redis is
    down; then resume and a worker."""
    result = Result("redis-queued")
    env = {"INTELSHARE_INLINE_MAX_OBJECTS": str(INLINE_MAX)}
    with Stack(workdir, env=env) as stack:
        world = stack.prepare()
        stack.start_web()
        # A second web server whose cache is its own memory (CACHE_URL unset, the
        # default): there the broker is the only Redis dependency of a POST.
        local = stack.start_web(CACHE_URL="")
        writer, reader = _client(stack, world, "writer"), _client(stack, world, "reader")
        local_writer = _client(stack, world, "writer")
        local_writer.base_url = local
        tally, sent = Tally(), {}
        for n in range(4):
            objects = batch("redis-queued", n * 1000, 200)
            status_id = _post(writer, objects, tally)
            if status_id:
                sent[status_id] = [key(o) for o in objects]
        queued_before = queue_length()
        restart_took = machine.redis_restart(down_seconds=2)
        queued_after = queue_length()

        cached, uncached = Tally(), Tally()
        with machine.redis_down():
            # Redis-cached web: credentials and rate limits cannot be checked.
            for _ in range(3):
                try:
                    cached.saw(reader.get(reader.objects_path, {"limit": 10}))
                except requests.RequestException as exc:
                    cached.saw(None, error=str(exc))
            # Memory-cached web: the envelope is persisted, its task cannot be sent.
            objects = batch("redis-queued", 9000, 200)
            status_id = _post(local_writer, objects, uncached)
            if status_id:
                sent[status_id] = [key(o) for o in objects]
        for client in (writer, reader, local_writer):
            client.close()

        resumed = stack.django("resume")["resumed"]
        stack.start_worker()
        rows = stack.wait_statuses(set(sent), timeout=120)
        stored = [tuple(v) for v in stack.django("versions")["versions"]]

    result.numbers.update(
        {
            "queued_before_restart": queued_before,
            "queued_after_restart": queued_after,
            "redis_restart_seconds": round(restart_took, 2),
            "reads_while_down_redis_cache": dict(cached.codes),
            "post_while_down_memory_cache": dict(uncached.codes),
            "resumed": len(resumed),
            "envelopes": len(sent),
        }
    )
    result.check(
        tally.codes == {"202": 4} and queued_before == 4,
        f"4 envelopes answered 202 and queued ({queued_before} messages in Redis)",
    )
    result.note(
        f"after the restart the queue held {queued_after} messages (this machine's "
        "Redis keeps nothing on disk); submissions.resume_pending, the beat task's job "
        f"after 2 min, was called directly and re-enqueued {len(resumed)} statuses"
    )
    result.check(
        set(cached.codes) <= {"200", "503"} and not cached.problems,
        f"while Redis was down, reads on the Redis-cached web answered "
        f"{cached.summary()} (503 + Retry-After or 200, never 500; problems: "
        f"{cached.problems[:2] or 'none'})",
    )
    result.check(
        uncached.codes == {"202": 1},
        f"while Redis was down, a large POST on the memory-cached web answered "
        f"{uncached.summary()} (202: the envelope is persisted and its task sent "
        f"later; problems: {uncached.problems[:2] or 'none'})",
    )
    result.check(
        len(resumed) == len(sent),
        f"every pending status was re-enqueued ({len(resumed)}/{len(sent)})",
    )
    _exact(result, rows, sent, stored)
    return result


def redis_running(workdir: Path, *, big: int = 20000) -> Result:
    """A worker storing a large envelope while Redis restarts; then a new envelope
    must be taken by the same, reconnected worker."""
    result = Result("redis-running")
    env = {"INTELSHARE_INLINE_MAX_OBJECTS": str(INLINE_MAX)}
    with Stack(workdir, env=env) as stack:
        world = stack.prepare()
        stack.start_web()
        stack.start_worker()
        worker_pids = stack.worker_pids()
        writer = _client(stack, world, "writer")
        tally, sent = Tally(), {}
        objects = batch("redis-running", 0, big)
        first = _post(writer, objects, tally)
        if first:
            sent[first] = [key(o) for o in objects]
        # Restart once the worker is half-way in (some chunks committed).
        deadline = time.monotonic() + 60
        progress: list[Any] = []
        while first and time.monotonic() < deadline:
            progress = [r for r in stack.django("statuses")["statuses"] if r[0] == first]
            if progress and progress[0][3] > 0:
                break
            time.sleep(0.3)
        done_at_restart = progress[0][3] if progress else 0
        restart_took = machine.redis_restart(down_seconds=3)
        rows = stack.wait_statuses(set(sent), timeout=240)
        first_done = bool(rows) and all(r[1] == "complete" for r in rows.values())

        # The same worker, reconnected, takes a new message without any resume.
        objects = batch("redis-running", 100_000, 2000)
        began = time.monotonic()
        second = _post(writer, objects, tally)
        if second:
            sent[second] = [key(o) for o in objects]
        rows = stack.wait_statuses(set(sent), timeout=120)
        second_s = time.monotonic() - began
        resumed: list[str] = []
        if not all(r[1] == "complete" for r in rows.values()):
            resumed = stack.django("resume")["resumed"]
            rows = stack.wait_statuses(set(sent), timeout=120)
        stored = [tuple(v) for v in stack.django("versions")["versions"]]
        same_worker = worker_pids == stack.worker_pids()
        log = stack.worker.log_text() if stack.worker else ""
        writer.close()

    result.numbers.update(
        {
            "objects_done_when_redis_went_down": done_at_restart,
            "big_envelope": big,
            "redis_restart_seconds": round(restart_took, 2),
            "second_envelope_seconds": round(second_s, 1),
            "worker_log_connection_lines": sum(
                1
                for line in log.splitlines()
                if "connection" in line.lower() and "redis" in line.lower()
            ),
        }
    )
    result.check(tally.codes == {"202": 2}, f"both envelopes answered 202 ({tally.summary()})")
    result.check(
        0 < done_at_restart < big,
        f"Redis went down mid-task: {done_at_restart}/{big} objects committed",
    )
    result.check(first_done, "the interrupted task finished by itself")
    result.check(
        not resumed,
        "the envelope sent after the restart was processed by the "
        f"reconnected worker in {second_s:.1f} s, no resume needed"
        + (f" (needed resume of {len(resumed)})" if resumed else ""),
    )
    result.check(same_worker, f"same worker processes before and after ({worker_pids})")
    _exact(result, rows, sent, stored)
    return result
