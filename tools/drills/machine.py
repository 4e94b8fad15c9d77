"""The machine's own PostgreSQL and Redis: restart them, and always leave them running."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tools.drills.stack import DRILL_DATABASE, LOOPBACK, PG_ADMIN_URL

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def pg_version() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return versions[-1]


def _pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", action],
        check=True,
        timeout=120,
        capture_output=True,
    )


def pg_ready() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def pg_wait(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg_ready():
            return True
        time.sleep(0.2)
    return False


def pg_busy_elsewhere() -> list[str]:
    """Sessions of other databases that are running, or were within the last 30 s
    (someone else's work that a restart would break: a benchmark between two
    requests is idle for a moment only)."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT datname, state, left(query, 60) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname IS NOT NULL "
                "AND datname NOT LIKE %s AND backend_type = 'client backend' "
                "AND (state <> 'idle' OR state_change > now() - interval '30 seconds')",
                (f"{DRILL_DATABASE}%",),
            ).fetchall()
    except psycopg.Error:
        return []
    return [f"{db} ({state}): {query}" for db, state, query in rows]


def wait_quiet(seconds: float) -> list[str]:
    """Wait up to ``seconds`` for other databases to have no running statement."""
    deadline = time.monotonic() + seconds
    busy = pg_busy_elsewhere()
    announced = False
    while busy and time.monotonic() < deadline:
        if not announced:
            sys.stderr.write(f"  waiting for other PostgreSQL work to finish: {busy[:3]}\n")
            announced = True
        time.sleep(5)
        busy = pg_busy_elsewhere()
        if not busy:
            # Quiet twice in a row: the gap between two statements of a loop is not quiet.
            time.sleep(2)
            busy = pg_busy_elsewhere()
    return busy


def pg_restart(*, down_seconds: float = 0.0) -> float:
    """Restart the cluster (``restart``, or stop/hold/start when ``down_seconds``);
    returns the seconds until it accepted connections again."""
    started = time.monotonic()
    try:
        if down_seconds > 0:
            _pg_ctl("stop")
            time.sleep(down_seconds)
            try:
                _pg_ctl("start")
            except subprocess.CalledProcessError:
                # Something else (a supervisor, another session) started it first.
                if (
                    subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode
                    != 0
                ):
                    raise
        else:
            _pg_ctl("restart")
    finally:
        pg_ensure_up()
    return time.monotonic() - started


def pg_ensure_up() -> None:
    if pg_ready():
        return
    with contextlib.suppress(subprocess.CalledProcessError):
        _pg_ctl("start")  # fails with "already running" while it finishes starting
    if not pg_wait(90):
        raise RuntimeError("PostgreSQL did not come back")


def _redis() -> Any:
    """A client that fails at once (redis-py retries with backoff by default)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=LOOPBACK,
        port=6379,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


def redis_ready() -> bool:
    import redis

    client = _redis()
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_stop() -> None:
    """``SHUTDOWN NOSAVE`` and wait until it no longer answers."""
    import redis

    client = _redis()
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    finally:
        client.close()
    deadline = time.monotonic() + 15
    while redis_ready() and time.monotonic() < deadline:
        time.sleep(0.1)


@contextmanager
def redis_down() -> Iterator[None]:
    """Redis stopped for the body of the block, started again after it, always."""
    try:
        redis_stop()
        yield
    finally:
        redis_ensure_up()


def redis_restart(*, down_seconds: float = 2.0) -> float:
    """Stop, hold it down, start it with the machine's command; returns the seconds."""
    started = time.monotonic()
    with redis_down():
        time.sleep(down_seconds)
    return time.monotonic() - started


def redis_ensure_up() -> None:
    if redis_ready():
        return
    subprocess.run(REDIS_START, check=False, timeout=30, capture_output=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if redis_ready():
            return
        time.sleep(0.1)
    raise RuntimeError("Redis did not come back")


def ensure_up() -> None:
    """PostgreSQL and Redis running, whatever a drill did."""
    errors = []
    for check in (pg_ensure_up, redis_ensure_up):
        try:
            check()
        except Exception as exc:
            errors.append(f"{check.__name__}: {exc}")
    if errors:
        raise RuntimeError("; ".join(errors))


@contextmanager
def services_restored() -> Iterator[None]:
    try:
        yield
    finally:
        ensure_up()
