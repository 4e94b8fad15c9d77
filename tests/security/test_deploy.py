"""Production settings: ``check --deploy`` clean, DEBUG off by default, HTTPS redirect
with the probes exempt, hardening headers, and no start without the shared keys.

Settings are read once per process, so the environment-driven ones are
checked in subprocesses with the production environment of README
"Production": a PostgreSQL ``DATABASE_URL`` (``check`` connects to no
database, so it need not exist), a long ``SECRET_KEY``, ``DEBUG=false``,
``ALLOWED_HOSTS``, HSTS, the TLS proxy header and the sync credential keys.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEYS = ("SECRET_KEY", "INTELSHARE_SYNC_KEYS")
SCRUB = (
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "INTELSHARE_BEHIND_TLS_PROXY",
    "INTELSHARE_SYNC_KEYS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env.update(INTELSHARE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    env.update(extra)
    return env


def production(tmp_path: Path) -> dict[str, str]:
    return _env(
        tmp_path,
        DATABASE_URL="postgres://intelshare@127.0.0.1:5432/intelshare_drills_check",
        SECRET_KEY=secrets.token_urlsafe(60),
        DEBUG="false",
        ALLOWED_HOSTS="intel.example.org",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
        SECURE_SSL_REDIRECT="true",
        INTELSHARE_BEHIND_TLS_PROXY="true",
        INTELSHARE_SYNC_KEYS=Fernet.generate_key().decode(),
    )


def _python(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


_SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_PROXY_SSL_HEADER is not None)"
)


def test_check_deploy_is_clean_with_the_production_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_production_settings_are_secure_and_debug_off_by_default(tmp_path: Path) -> None:
    env = production(tmp_path)
    del env["DEBUG"]
    assert _python(env, _SHOW) == "False True True True"


def test_embedded_mode_has_debug_off_by_default(tmp_path: Path) -> None:
    """No variable set at all: SQLite, plain HTTP on loopback, and still no DEBUG."""
    assert _python(_env(tmp_path), _SHOW) == "False False False False"


def test_https_redirect_spares_the_probes(db: None, settings: Any) -> None:
    """Behind the proxy every page redirects to https, but the liveness and readiness
    probes, which reach the container directly over HTTP, answer as they are."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    assert client.get("/taxii2/").status_code == 301
    assert client.get("/taxii2/", HTTP_X_FORWARDED_PROTO="https").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)


def test_hardening_headers(db: None, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in response["Strict-Transport-Security"]


def _refused(argv: list[str], env: dict[str, str], missing: tuple[str, ...]) -> str:
    """Runs ``argv``, which must exit non-zero by itself, naming every missing variable."""
    try:
        done = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{argv[:3]} started without {missing}: {exc.stderr!r}") from None
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    for name in missing:
        assert f"{name} is not set" in output, output
    return output


def _without(tmp_path: Path, *missing: str) -> dict[str, str]:
    env = production(tmp_path / "var")
    for name in missing:
        del env[name]
    # Where the worker and beat would connect if they started; they must not get there.
    env["CELERY_BROKER_URL"] = "memory://"
    return env


@pytest.mark.parametrize("command", [["check"], ["migrate", "--noinput"]])
@pytest.mark.parametrize("missing", [("SECRET_KEY",), ("INTELSHARE_SYNC_KEYS",)])
def test_manage_commands_refuse_without_the_shared_keys(
    tmp_path: Path, command: list[str], missing: tuple[str, ...]
) -> None:
    """Outside the embedded mode every node must share its keys: a missing one is a
    system check error for check, migrate and the rest, and no key file is made."""
    _refused([sys.executable, "manage.py", *command], _without(tmp_path, *missing), missing)
    assert not (tmp_path / "var" / "secret_key").exists()
    assert not (tmp_path / "var" / "sync_keys").exists()


def test_gunicorn_refuses_without_the_shared_keys(tmp_path: Path) -> None:
    """gunicorn runs no system checks; the WSGI entry point does, and the master
    stops instead of booting workers that sign with a key of their own."""
    output = _refused(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-control-socket",
        ],
        _without(tmp_path, *KEYS),
        KEYS,
    )
    assert "config.E001" in output and "config.E002" in output


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_celery_refuses_without_the_shared_keys(tmp_path: Path, program: str) -> None:
    """A worker without the feed credential keys could not decrypt what the web
    nodes saved; it stops at start, as beat does, instead of failing task by task."""
    argv = [sys.executable, "-m", "celery", "-A", "config", program, "-l", "INFO"]
    argv += ["--pool=solo"] if program == "worker" else ["-s", str(tmp_path / "schedule")]
    _refused(argv, _without(tmp_path, "INTELSHARE_SYNC_KEYS"), ("INTELSHARE_SYNC_KEYS",))
