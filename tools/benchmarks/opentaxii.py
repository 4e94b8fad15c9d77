"""OpenTAXII 0.9.3 as a peer: its own virtualenv, its own PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.benchmarks import pg
from tools.benchmarks.servers import REPO, Process, gunicorn_extra

VERSION = "0.9.3"
REQUIREMENTS = [f"opentaxii=={VERSION}", "sqlalchemy<2", "psycopg2-binary", "gunicorn"]
USER = ("bench", "bench-opentaxii-pass")
DBNAME = "opentaxii_bench"


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout)[-1500:]
        raise RuntimeError(f"{Path(argv[0]).name} failed: {output}")
    return result.stdout


def install(venv: Path) -> str:
    """Create the virtualenv and install OpenTAXII; returns the installed versions."""
    python = venv / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS])
    code = (
        "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in "
        "('opentaxii','sqlalchemy','flask','werkzeug','gunicorn','psycopg2-binary')))"
    )
    return _run([str(python), "-c", code]).strip()


class OpenTaxii(Process):
    """An OpenTAXII 0.9.3 gunicorn on loopback with a fresh database."""

    def __init__(self, workdir: Path, venv: Path, *, workers: int) -> None:
        super().__init__("opentaxii", workdir)
        self.venv = venv
        self.workers_count = workers
        self.config_path = workdir / "opentaxii.yml"
        self.api_root_id = ""
        self.env = {**os.environ, "OPENTAXII_CONFIG": str(self.config_path)}

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        pg.recreate(DBNAME)
        db = pg.url(DBNAME, driver="postgresql+psycopg2")
        self.config_path.write_text(
            f"""\
domain: "127.0.0.1:{self.port}"
support_basic_auth: yes
return_server_error_details: no
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: {db}
    create_tables: yes
    secret: benchmark-only-secret-for-loopback-runs-0123456789
    token_ttl_secs: 3600
taxii1:
taxii2:
  title: OpenTAXII (benchmark)
  max_content_length: {256 * 1024 * 1024}
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: {db}
      create_tables: yes
logging:
  opentaxii: warning
  root: warning
""",
            encoding="utf-8",
        )
        _run([self.bin("opentaxii-add-api-root"), "-t", "bench", "--default"], env=self.env)
        self.api_root_id = str(pg.scalar(DBNAME, "SELECT id FROM opentaxii_api_root"))
        _run([self.bin("opentaxii-create-account"), "-u", USER[0], "-p", USER[1]], env=self.env)
        # 0.9.3's create-account ignores --admin; update-account sets it.
        _run(
            [self.bin("opentaxii-update-account"), "-u", USER[0], "-f", "admin", "-v", "yes"],
            env=self.env,
        )

    def add_collection(self, alias: str) -> str:
        _run(
            [
                self.bin("opentaxii-add-collection"),
                "-r",
                self.api_root_id,
                "-t",
                alias,
                "-a",
                alias,
            ],
            env=self.env,
        )
        return str(
            pg.scalar(DBNAME, "SELECT id FROM opentaxii_collection WHERE alias = %s", (alias,))
        )

    def start(self) -> None:
        gunicorn = Path(self.bin("gunicorn"))
        argv = [
            str(gunicorn),
            "opentaxii_wsgi:app",
            "--pythonpath",
            str(REPO / "tools" / "benchmarks" / "shims"),
            "--config",
            "python:opentaxii.http",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers_count),
            "--timeout",
            "900",
            *gunicorn_extra(gunicorn),
        ]
        self.spawn(argv, self.env, self.workdir)
        self.wait_ready(self.base + "taxii2/", USER, timeout=90)

    def collection_url(self, collection_id: str) -> str:
        return f"{self.base}taxii2/{self.api_root_id}/collections/{collection_id}/"
