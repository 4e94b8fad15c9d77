"""``manage.py demo``: the embedded quick start (web + worker + scheduler)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from intelshare import demo


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def metrics_environment(var_dir: Path) -> dict[str, str]:
    """The processes' environment with one Prometheus multiprocess directory, emptied
    first: /metrics then sums the counters of both web workers (and the worker's),
    instead of answering with whichever worker took the scrape."""
    folder = var_dir / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}


class Command(BaseCommand):
    help = (
        "Set up the demo (migrations, API root, collections, partners, starter "
        "pack) and run web, worker and scheduler until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--setup-only", action="store_true", help="create the demo content and exit"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="allow the demo's fixed passwords on a non-embedded database",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.EMBEDDED and not options["force"]:
            raise CommandError(
                "the demo sets fixed passwords; it runs on the embedded "
                "SQLite database only (use --force to override)"
            )
        call_command("migrate", interactive=False, verbosity=0)
        collection = demo.setup()
        loaded = self._load_pack(collection)
        self._print_banner(options["port"], loaded)
        if options["setup_only"]:
            return
        self._serve(options["port"])

    def _load_pack(self, collection: Any) -> str:
        try:
            from intelshare.content.pack import load_pack
        except ImportError:
            return "starter pack not available"
        result = load_pack(collection=collection)
        return f"starter pack: {result.new} new, {result.duplicate} already present"

    def _print_banner(self, port: int, loaded: str) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS(f"intelshare demo ready — {loaded}"))
        out.write(f"  console         : http://127.0.0.1:{port}/ (dashboard once signed in)")
        out.write(f"  TAXII discovery : http://127.0.0.1:{port}/taxii2/")
        out.write(f"  admin site      : http://127.0.0.1:{port}/admin/")
        out.write("  credentials (loopback demo only):")
        for account in demo.ACCOUNTS:
            out.write(f"    {account.username:<15} {account.password:<17} {account.role}")
        out.write(
            f"  try: curl -u acme-analyst:acme-demo-pass -H 'Accept: "
            f"application/taxii+json;version=2.1' http://127.0.0.1:{port}/taxii2/intel/"
            "collections/llm-misuse/objects/"
        )

    def _serve(self, port: int) -> None:
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-l",
                "INFO",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(settings.INTELSHARE_VAR_DIR / "celerybeat-schedule"),
            ],
        }
        signal.signal(signal.SIGTERM, _interrupt)
        env = metrics_environment(settings.INTELSHARE_VAR_DIR)
        procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write("web, worker and beat started; Ctrl-C stops them")
        try:
            while all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
            dead = [name for name, p in procs.items() if p.poll() is not None]
            raise CommandError(f"{', '.join(dead)} exited; see the log above")
        except KeyboardInterrupt:
            self.stdout.write("stopping…")
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
