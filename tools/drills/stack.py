"""The stack a drill runs against: a fresh PostgreSQL database, gunicorn, a Celery worker."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import requests
from cryptography.fernet import Fernet
from psycopg import sql

from tools.procs import Logged, children, free_port

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
PG_ADMIN_URL = f"postgres://postgres@{LOOPBACK}:5432/postgres"
BROKER_URL = f"redis://{LOOPBACK}:6379/5"
CACHE_URL = f"redis://{LOOPBACK}:6379/6"
DRILL_DATABASE = "intelshare_drills"
# Variables of the caller that would point the stack at other services.
_SCRUBBED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "DEBUG",
    "SECRET_KEY",
    "INTELSHARE_SYNC_KEYS",
    "INTELSHARE_VAR_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
)


def database_url(name: str) -> str:
    return f"postgres://postgres@{LOOPBACK}:5432/{name}"


def recreate_database(name: str) -> None:
    """Drop (forcing our own leftover sessions off) and create ``name``."""
    if not name.startswith("intelshare_drills"):
        raise ValueError(f"refusing to recreate {name!r}: not a drill database")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


class Proc(Logged):
    """One server process with its log file, leading its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__(name, log_path, own_session=True)
        self.argv, self.env = argv, env

    def start(self) -> None:
        self.spawn(self.argv, self.env, REPO)


class Stack:
    """intelshare on PostgreSQL + Redis, started for one drill and stopped after it."""

    def __init__(
        self,
        workdir: Path,
        *,
        database: str = DRILL_DATABASE,
        web_workers: int = 2,
        web_threads: int = 4,
        keep_alive: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.database = database
        self.web_workers, self.web_threads = web_workers, web_threads
        self.keep_alive = keep_alive  # gunicorn's default, as docker-compose runs it
        self.port = free_port()
        base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        self.env: dict[str, str] = {
            **base,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(database),
            "CELERY_BROKER_URL": BROKER_URL,
            "CACHE_URL": CACHE_URL,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "INTELSHARE_SYNC_KEYS": Fernet.generate_key().decode(),
            "DEBUG": "false",
            "INTELSHARE_VAR_DIR": str(workdir / "var"),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.web: Proc | None = None
        self._webs: list[Proc] = []
        self.worker: Proc | None = None
        self._workers_started = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def prepare(self, **world: Any) -> dict[str, Any]:
        """A fresh database, migrated, with the drill's partners and collection."""
        recreate_database(self.database)
        flush_redis()
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        return self.django("world", **world)

    def django(self, command: str, timeout: float = 300, **args: Any) -> Any:
        """Run ``python -m tools.drills.setup command`` and return the JSON it prints."""
        return self.django_result(self.django_start(command, **args), timeout)

    def django_start(self, command: str, **args: Any) -> subprocess.Popen[str]:
        """``django`` without waiting, for a drill that acts while the command runs;
        ``django_result`` collects it."""
        return subprocess.Popen(
            [sys.executable, "-m", "tools.drills.setup", command, json.dumps(args)],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def django_result(process: subprocess.Popen[str], timeout: float = 300) -> Any:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise RuntimeError(f"drills.setup ran past {timeout} s:\n{err[-3000:]}") from None
        if process.returncode != 0:
            raise RuntimeError(
                f"drills.setup {process.args[3]} failed ({process.returncode}):\n"
                f"{out[-3000:]}\n{err[-3000:]}"
            )
        return json.loads(out.strip().splitlines()[-1])

    def wait_statuses(
        self, ids: set[str], timeout: float, poll: float = 1.0
    ) -> dict[str, list[Any]]:
        """The status rows of ``ids`` once all are complete, or as they stand at
        ``timeout``: {id: [id, status, total, success, failure, pending]}."""
        deadline = time.monotonic() + timeout
        rows: dict[str, list[Any]] = {}
        while time.monotonic() < deadline:
            rows = {r[0]: r for r in self.django("statuses")["statuses"] if r[0] in ids}
            if len(rows) == len(ids) and all(r[1] == "complete" for r in rows.values()):
                break
            time.sleep(poll)
        return rows

    def start_web(self, timeout: float = 60, **env_overrides: str) -> str:
        """Start gunicorn; returns its base URL. The first one is ``self.web`` at
        ``self.base_url``; later ones (other settings, e.g. no Redis cache) get
        their own port and are stopped with the stack."""
        first = self.web is None
        port = self.port if first else free_port()
        env = {k: v for k, v in {**self.env, **env_overrides}.items() if v != ""}
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"{LOOPBACK}:{port}",
            "--workers",
            str(self.web_workers),
            "--threads",
            str(self.web_threads),
            "--worker-class",
            "gthread",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
            "--keep-alive",
            str(self.keep_alive),
            "--no-control-socket",
            "--log-level",
            "warning",
        ]
        web = Proc("gunicorn", argv, env, self.workdir / f"gunicorn-{port}.log")
        self._webs.append(web)
        if first:
            self.web = web
        web.start()
        base = f"http://{LOOPBACK}:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not web.alive:
                break
            try:
                up = requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                up = False
            # Every worker has booted once the master lists them all.
            if up and len(children(web.pid or 0)) >= self.web_workers:
                return base
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start:\n{web.log_tail()}")

    def start_worker(self, *, concurrency: int = 1, timeout: float = 60) -> None:
        self._workers_started += 1
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "-l",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"drill{self.port}-{self._workers_started}@%h",
        ]
        log = self.workdir / f"worker-{self._workers_started}.log"
        self.worker = Proc("celery", argv, self.env, log)
        self.worker.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.worker.alive:
                break
            if " ready." in self.worker.log_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start:\n{self.worker.log_tail()}")

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop(grace=30)
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        for web in self._webs:
            web.stop()
        self._webs, self.web = [], None

    # -- observation -------------------------------------------------------------------

    def web_pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        if self.web is None or self.web.pid is None:
            return []
        return [self.web.pid, *children(self.web.pid)]

    def worker_pids(self) -> list[int]:
        if self.worker is None or self.worker.pid is None:
            return []
        return [self.worker.pid, *children(self.worker.pid)]


def flush_redis() -> None:
    """Empty the drills' own Redis databases (5: broker, 6: cache), nothing else."""
    import redis

    for url in (BROKER_URL, CACHE_URL):
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()


def queue_length(queue: str = "celery") -> int:
    import redis

    client = redis.Redis.from_url(BROKER_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        return int(client.llen(queue))
    finally:
        client.close()
