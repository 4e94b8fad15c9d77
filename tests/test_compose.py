"""docker-compose.yml runs the same entry points that CI and the README exercise.

No Docker engine runs here, so the file is checked structurally (CI also runs
``docker-compose config -q`` when Debian's docker-compose is installed).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_healthchecks() -> None:
    services = _compose()["services"]
    assert set(services) >= {"db", "redis", "migrate", "web", "worker", "beat"}
    for name in ("db", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    web_probe = " ".join(services["web"]["healthcheck"]["test"])
    assert "/readyz" in web_probe
    resolve("/readyz")


def test_every_command_exists_in_the_project() -> None:
    """gunicorn's app, Celery's app and every manage.py command the file names."""
    services = _compose()["services"]
    for name, service in services.items():
        command = service.get("command")
        if not command or name in ("db", "redis"):
            continue
        program = command[0]
        if program == "gunicorn":
            module, _, attr = command[1].partition(":")
            assert hasattr(importlib.import_module(module), attr or "application")
        elif program == "celery":
            app = importlib.import_module(command[command.index("-A") + 1])
            assert app.celery_app.main == "intelshare"
            assert command[3] in ("worker", "beat")
        elif program == "python":
            assert command[1] == "manage.py"
            assert command[2] in get_commands(), command
        else:
            raise AssertionError(f"{name}: unknown program {program}")


def test_web_and_worker_match_the_readme() -> None:
    """The README's production commands are the compose file's commands."""
    readme = (ROOT / "README.md").read_text()
    services = _compose()["services"]
    for name in ("worker", "beat"):
        assert " ".join(services[name]["command"][:4]) in readme
    assert "gunicorn config.wsgi" in readme
