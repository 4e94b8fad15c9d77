"""Partner feeds on partners that misbehave, beside a healthy one."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from tools.drills.objects import indicator
from tools.drills.result import Result
from tools.drills.stack import LOOPBACK, Stack, database_url

CONNECT_TIMEOUT, READ_TIMEOUT, REQUEST_SECONDS = 2, 3, 10
REMOTE_COLLECTION = "7a0c6f5e-3b1d-4e2f-9a8b-0c1d2e3f4a5b"
TRANSIENT_BASE, PERMANENT_BASE, GRACE = 30.0, 300.0, 60.0  # sync.runs


class FakePartner:
    """A loopback TCP server that misbehaves in one way; one thread per connection."""

    def __init__(
        self, mode: str, *, delay: float = 0.0, drip: float = 1.0, give_up: float = 60.0
    ) -> None:
        self.mode, self.delay, self.drip, self.give_up = mode, delay, drip, give_up
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def api_root_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api1/"

    def __enter__(self) -> FakePartner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the drill is over; False when it is."""
        return not self.stopping.wait(seconds)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            conn.recv(65536)  # the request; its content does not matter here
            if self.mode == "hang":
                self._wait(self.give_up)
            elif self.mode == "not-http":
                conn.sendall(b"\x16\x03\x01 this is not HTTP \xff\xfe\x00\r\n\r\n")
            elif self.mode == "not-json":
                body = b"<html>{garbage! not a TAXII envelope"
                conn.sendall(_head(200, len(body)) + body)
            elif self.mode == "slow":
                if self._wait(self.delay):
                    body = _page()
                    conn.sendall(_head(200, len(body)) + body)
            elif self.mode == "trickle":
                body = _page()
                conn.sendall(_head(200, len(body)))
                ended = time.monotonic() + self.give_up
                for i in range(len(body)):
                    if time.monotonic() > ended or not self._wait(self.drip):
                        break
                    conn.sendall(body[i : i + 1])
        except OSError:
            pass
        finally:
            conn.close()


def _head(status: int, length: int) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"HTTP/1.1 {status} OK\r\n"
        "Content-Type: application/taxii+json;version=2.1\r\n"
        f"Content-Length: {length}\r\nX-TAXII-Date-Added-First: {now}\r\n"
        f"X-TAXII-Date-Added-Last: {now}\r\nConnection: close\r\n\r\n"
    ).encode()


def _page() -> bytes:
    return orjson.dumps(
        {"more": False, "objects": [indicator("slow-partner", n) for n in range(3)]}
    )


def _env() -> dict[str, str]:
    # INTELSHARE_SYNC_REQUEST_SECONDS bounds a whole request (sync/client/transport.py,
    # _Deadline); partner_trickle proves it.
    return {
        "INTELSHARE_SYNC_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "INTELSHARE_SYNC_READ_TIMEOUT": str(READ_TIMEOUT),
        "INTELSHARE_SYNC_REQUEST_SECONDS": str(REQUEST_SECONDS),
    }


def _window(failures: int, *, transient: bool) -> tuple[float, float]:
    """Where ``next_attempt`` may fall after the n-th failure (sync.runs.backoff)."""
    base = TRANSIENT_BASE if transient else PERMANENT_BASE
    ceiling = base * 2 ** (failures - 1)
    grace = GRACE if transient else 0.0
    return ceiling / 2 + grace - 5, ceiling + grace + 1


def partners(workdir: Path, *, healthy_objects: int = 500) -> Result:
    from tests.support.medallion import MedallionCollection, MedallionServer, make_indicators

    result = Result("partners")
    seed_start = datetime(2025, 3, 1, tzinfo=UTC)
    seed = [
        (seed_start + timedelta(microseconds=1 + 997 * i), obj)
        for i, obj in enumerate(make_indicators(healthy_objects, label="drill-healthy"))
    ]
    collection = MedallionCollection(
        id=REMOTE_COLLECTION, title="Healthy partner", seed=seed, can_write=False
    )
    bad = {
        "hang": FakePartner("hang"),
        "not-http": FakePartner("not-http"),
        "not-json": FakePartner("not-json"),
        "slow": FakePartner("slow", delay=12),
    }
    with (
        Stack(workdir, env=_env()) as stack,
        MedallionServer(workdir / "medallion", collections=(collection,)) as medallion,
    ):
        stack.prepare()
        for fake in bad.values():
            fake.__enter__()
        try:
            specs = [
                {
                    "name": f"partner-{name}",
                    "url": fake.api_root_url,
                    "collection": REMOTE_COLLECTION,
                }
                for name, fake in bad.items()
            ]
            specs.append(
                {
                    "name": "partner-healthy",
                    "url": medallion.api_root_url,
                    "collection": REMOTE_COLLECTION,
                    "auth": list(medallion.auth),
                }
            )
            report = stack.django("feeds", feeds=specs, rounds=2, timeout=300)
        finally:
            for fake in bad.values():
                fake.__exit__()
    result.numbers["rounds"] = report["rounds"]
    bound = CONNECT_TIMEOUT + READ_TIMEOUT + 3
    for n, round_ in enumerate(report["rounds"], start=1):
        runs, feeds = round_["runs"], round_["feeds"]
        for name, transient, words in (
            ("hang", True, "timed out"),
            ("slow", True, "timed out"),
            ("not-http", False, "not HTTP"),
            ("not-json", False, "not JSON"),
        ):
            run, feed = runs.get(f"partner-{name}", {}), feeds.get(f"partner-{name}", {})
            low, high = _window(n, transient=transient)
            when = feed.get("next_attempt_in")
            result.check(
                run.get("outcome") == "failed"
                and words in run.get("error", "")
                and (run.get("seconds") or 1e9) <= bound
                and (run.get("retry_in") is not None) == transient
                and not feed.get("healthy")
                and feed.get("consecutive_failures") == n
                and when is not None
                and low <= when <= high,
                f"round {n}, {name}: failed in {run.get('seconds')} s (bound {bound} s) with "
                f"{run.get('error', '')[:70]!r}; {'transient' if transient else 'permanent'}; "
                f"unhealthy, {feed.get('consecutive_failures')} failures in a row, next "
                f"attempt in {when} s (backoff window {low:.0f}-{high:.0f} s)",
            )
        healthy = runs.get("partner-healthy", {})
        want = healthy_objects if n == 1 else 0
        result.check(
            healthy.get("outcome") == "success"
            and healthy.get("stored") == want
            and (healthy.get("seconds") or 1e9) < READ_TIMEOUT
            and feeds["partner-healthy"]["healthy"],
            f"round {n}, healthy medallion feed: {healthy.get('outcome')}, stored "
            f"{healthy.get('stored')} (expected {want}) in {healthy.get('seconds')} s, "
            f"beside the bad ones (under the {READ_TIMEOUT} s read timeout they sat in)",
        )
    result.check(
        not [d for d in report["due_now"] if d != "partner-healthy"],
        f"backed-off feeds are not due for the dispatcher (due now: {report['due_now'] or 'none'})",
    )
    return result


def partner_trickle(workdir: Path) -> Result:
    """A partner that sends its headers, then one byte per second: each byte comes
    within the 3 s read timeout, so only an overall deadline per request ends it
    (without one the run is held until the Celery soft time limit, 55 minutes)."""
    result = Result("partner-trickle")
    with Stack(workdir, env=_env()) as stack, FakePartner("trickle", drip=1.0, give_up=45) as fake:
        stack.prepare()
        report = stack.django(
            "feeds",
            feeds=[
                {
                    "name": "partner-trickle",
                    "url": fake.api_root_url,
                    "collection": REMOTE_COLLECTION,
                }
            ],
            rounds=1,
            join_timeout=120,
            timeout=200,
        )
    run = report["rounds"][0]["runs"]["partner-trickle"]
    bound = REQUEST_SECONDS + CONNECT_TIMEOUT + READ_TIMEOUT + 5
    result.numbers["run"] = run
    result.check(
        run.get("seconds") is not None and run["seconds"] <= bound,
        f"the run ended in {run.get('seconds')} s (bound {bound} s; the fake partner "
        f"hangs up after 45 s), outcome {run.get('outcome')}: "
        f"{str(run.get('error'))[:80]!r}",
    )
    return result


KILL_COLLECTION = "7a0c6f5e-3b1d-4e2f-9a8b-0c1d2e3f4a5c"


def _pages_committed(stack: Stack, feed: str) -> int | None:
    """Pages the feed's latest run has committed (a page and its counters are one
    transaction), read straight from the drill database; None before the run."""
    with psycopg.connect(database_url(stack.database), connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT r.pages FROM sync_syncrun r JOIN sync_feed f "
            "ON f.id = r.feed_id WHERE f.name = %s ORDER BY r.id DESC LIMIT 1",
            (feed,),
        ).fetchone()
    return None if row is None else int(row[0])


def partner_kill(workdir: Path, *, ids: int = 340, page: int = 7, kill_after: int = 20) -> Result:
    """medallion serving several versions of many ids is SIGKILLed in the middle of a
    pull, after ``kill_after`` pages were committed, and started again on its data
    file; the failed run's feed then runs again. The hub must end with every version
    the partner serves exactly once (no gap, no duplicate), the checkpoint must
    never have passed an unstored version, and the resumed run must re-read only
    the versions that share the checkpoint's ``date_added``. PostgreSQL and Redis
    are left alone."""
    from tests.support.medallion import MedallionCollection, MedallionServer, make_versioned_seed

    result = Result("partner-kill")
    # A real partner's proportions: 85% of ids with one version, 12% two, 3% three.
    counts = [3 if i % 34 == 5 else 2 if i % 34 in (1, 9, 14, 22) else 1 for i in range(ids)]
    seed = make_versioned_seed(counts, label="drill-kill", start=datetime(2025, 4, 1, tzinfo=UTC))
    added = {(obj["id"], obj["modified"]): when for when, obj in seed}
    collection = MedallionCollection(
        id=KILL_COLLECTION, title="Versioned partner", seed=seed, can_write=False
    )
    name = "partner-versions"
    with (
        Stack(workdir) as stack,
        MedallionServer(workdir / "medallion", collections=(collection,)) as medallion,
    ):
        stack.prepare()
        remote = medallion.versions(KILL_COLLECTION)
        spec = {
            "name": name,
            "url": medallion.api_root_url,
            "collection": KILL_COLLECTION,
            "auth": list(medallion.auth),
            "page_size": page,
        }
        running = stack.django_start("pull", **spec)
        deadline, committed = time.monotonic() + 240, None
        while running.poll() is None and time.monotonic() < deadline:
            committed = _pages_committed(stack, name)
            if committed is not None and committed >= kill_after:
                break
            time.sleep(0.05)
        if medallion.pid is not None and running.poll() is None:
            os.kill(medallion.pid, signal.SIGKILL)
        medallion.stop()
        killed = stack.django_result(running, timeout=120)
        held = {tuple(v) for v in stack.django("versions")["versions"]}

        medallion.start()  # the same data file: the same versions and date_added
        resumed = stack.django("pull", **spec, timeout=600)
        rows = [tuple(v) for v in stack.django("versions")["versions"]]

    first, second = killed["run"] or {}, resumed["run"] or {}
    checkpoint = killed["checkpoint"]
    result.numbers.update(
        {
            "remote_versions": len(remote),
            "remote_ids": ids,
            "page": page,
            "pages_when_killed": committed,
            "killed_run": first,
            "resumed_run": second,
            "checkpoint_after_kill": checkpoint,
        }
    )
    result.check(
        len(remote) == len(seed) and remote == set(added),
        f"medallion serves {len(remote)} versions of {ids} ids with "
        f"match[version]=all (the seed has {len(seed)})",
    )
    result.check(
        first.get("outcome") == "failed"
        and "RemoteUnavailable" in first.get("error", "")
        and killed["retry_in"] is not None
        and 0 < len(held) < len(remote),
        f"the killed run failed as transient ({first.get('error', '')[:60]!r}) after "
        f"{first.get('pages')} pages, {len(held)} of {len(remote)} versions stored",
    )
    cut = datetime.fromisoformat(checkpoint) if checkpoint else None
    gap = [key for key in remote - held if cut is not None and added[key] <= cut]
    result.check(
        cut is not None and held <= remote and not gap,
        f"the checkpoint {checkpoint} passed no unstored version (unstored at or "
        f"before it: {len(gap)})",
    )
    reread = sum(1 for key in held if cut is not None and added[key] > cut)
    result.check(
        second.get("outcome") == "success"
        and second.get("stored") == len(remote) - len(held)
        and second.get("duplicates") == reread
        and second.get("fetched") == len(remote) - len(held) + reread,
        f"the resumed run stored the other {second.get('stored')} versions "
        f"(expected {len(remote) - len(held)}) and re-read {second.get('duplicates')} "
        f"(the {reread} stored ones sharing the cut's date_added)",
    )
    result.check(
        len(rows) == len(set(rows)) == len(remote) and set(rows) == remote,
        f"the hub holds {len(rows)} versions, {len(set(rows))} distinct: every one "
        f"of the partner's {len(remote)}, no gap, no duplicate",
    )
    return result
