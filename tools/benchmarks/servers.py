"""Server processes on loopback: intelshare and medallion under gunicorn."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from tools.benchmarks.taxii import TAXII
from tools.procs import Logged, children, free_port, rss_kib

REPO = Path(__file__).resolve().parents[2]


def gunicorn_extra(gunicorn: Path) -> list[str]:
    """gunicorn 27 opens a control socket at one fixed path per user; two
    gunicorns would fight over it, so turn it off where the flag exists."""
    try:
        helptext = subprocess.run(
            [str(gunicorn), "--help"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--no-control-socket"] if "--no-control-socket" in helptext else []


class Process(Logged):
    """One server process with its log file under ``workdir``; stopped by pid."""

    def __init__(self, name: str, workdir: Path) -> None:
        super().__init__(name, workdir / f"{name}.log")
        self.workdir = workdir
        self.port = free_port()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_ready(self, url: str, auth: tuple[str, str] | None, timeout: float) -> None:
        if not self.wait_http(url, timeout=timeout, auth=auth, headers={"Accept": TAXII}):
            self.stop()
            raise RuntimeError(f"{self.name} did not start on {url}:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return children(self.pid) if self.pid else []

    def worker_rss_kib(self) -> dict[str, int | None]:
        return {str(pid): rss_kib(pid) for pid in self.workers()}


def venv_bin(name: str) -> Path:
    return Path(sys.executable).parent / name


class Intelshare(Process):
    """intelshare under gunicorn (``config.wsgi``) on the benchmark database."""

    def __init__(self, workdir: Path, database_url: str, *, workers: int) -> None:
        super().__init__("intelshare", workdir)
        self.workers_count = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "INTELSHARE_SYNC_KEYS": Fernet.generate_key().decode(),
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            # As docker-compose runs it: verified credentials shared by the workers.
            "CACHE_URL": "redis://127.0.0.1:6379/4",
            "INTELSHARE_VAR_DIR": str(workdir / "var"),
            # Nothing else of intelshare's own settings: its defaults are compose's
            # (pages of at most 1,000; envelopes of up to 1,000 objects stored inline).
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # As docker-compose runs it: workers share their Prometheus counters.
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.env.pop("DEBUG", None)

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def setup(self, *args: str, timeout: float = 3600) -> Any:
        """Run ``python -m tools.benchmarks.setup_db`` with this server's environment."""
        result = subprocess.run(
            [sys.executable, "-m", "tools.benchmarks.setup_db", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"setup_db {args[0]} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, auth: tuple[str, str]) -> None:
        gunicorn = venv_bin("gunicorn")
        argv = [
            str(gunicorn),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers_count),
            "--timeout",
            "600",
            "--log-level",
            "warning",
            # docker-compose.yml's web command
            "--limit-request-line",
            "8190",
            "--limit-request-field_size",
            "16384",
            "--limit-request-fields",
            "32768",
            *gunicorn_extra(gunicorn),
        ]
        metrics = Path(self.env["PROMETHEUS_MULTIPROC_DIR"])
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        self.spawn(argv, self.env, REPO)
        self.wait_ready(self.base + "taxii2/", auth, timeout=60)

    def collection_url(self, collection_id: str) -> str:
        return f"{self.base}taxii2/bench/collections/{collection_id}/"


MEDALLION_USER = ("bench", "bench-medallion-pass")


class Medallion(Process):
    """medallion 3.0.0, memory backend, under gunicorn with ONE worker: the memory
    backend lives in the worker, so a second worker would see other data."""

    COLLECTION = "6a1e6f7e-5e1b-4c3a-9d0b-000000000001"

    def __init__(self, workdir: Path, *, max_page_size: int = 1000) -> None:
        super().__init__("medallion", workdir)
        self.max_page_size = max_page_size

    def _write(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data_path = self.workdir / "medallion-data.json"
        config_path = self.workdir / "medallion-config.json"
        root = f"{self.base}bench/"
        data = {
            "/discovery": {"title": "medallion (benchmark)", "default": root, "api_roots": [root]},
            "bench": {
                "information": {
                    "title": "bench",
                    "versions": [TAXII],
                    "max_content_length": 256 * 1024 * 1024,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.COLLECTION,
                        "title": "bench",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        data_path.write_text(json.dumps(data), encoding="utf-8")
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(data_path),
                # next tokens must outlive a slow page walk
                "session_timeout": 3600,
                "check_interval": 60,
            },
            "users": {MEDALLION_USER[0]: MEDALLION_USER[1]},
            "taxii": {"max_page_size": self.max_page_size},
        }
        config_path.write_text(json.dumps(config), encoding="utf-8")
        return config_path

    def start(self) -> None:
        config = self._write()
        gunicorn = venv_bin("gunicorn")
        argv = [
            str(gunicorn),
            f"medallion:load_app({str(config)!r})",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--timeout",
            "900",
            "--log-level",
            "warning",
            *gunicorn_extra(gunicorn),
        ]
        self.spawn(argv, dict(os.environ), self.workdir)
        self.wait_ready(self.base + "taxii2/", MEDALLION_USER, timeout=60)

    def collection_url(self) -> str:
        return f"{self.base}bench/collections/{self.COLLECTION}/"


class Floor(Process):
    """``tools.benchmarks.floor`` under gunicorn with the hub's worker count."""

    def __init__(self, workdir: Path, *, workers: int) -> None:
        super().__init__("floor", workdir)
        self.workers_count = workers

    def start(self, objects_file: Path) -> None:
        gunicorn = venv_bin("gunicorn")
        argv = [str(gunicorn), "tools.benchmarks.floor:application", "--bind"]
        argv += [f"127.0.0.1:{self.port}", "--workers", str(self.workers_count)]
        argv += ["--log-level", "warning", *gunicorn_extra(gunicorn)]
        env = {**os.environ, "INTELSHARE_FLOOR_OBJECTS": str(objects_file), "PYTHONPATH": str(REPO)}
        self.spawn(argv, env, REPO)
        self.wait_ready(self.base + "taxii2/", None, timeout=60)

    def collection_url(self) -> str:
        return f"{self.base}floor/collections/floor/"
