"""docker-compose.yml runs the same entry points that CI and the README exercise.

No Docker engine runs here, so the file is checked structurally (CI also runs
``docker-compose config -q`` when Debian's docker-compose is installed).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from intelshare.models import ApiRoot

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_healthchecks() -> None:
    services = _compose()["services"]
    assert set(services) >= {
        "db",
        "redis",
        "migrate",
        "collectstatic",
        "web",
        "worker",
        "beat",
        "proxy",
    }
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


def _nginx_conf() -> str:
    return (ROOT / "deploy" / "nginx" / "intelshare.conf").read_text()


def _size(text: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024 * 1024}
    number, unit = re.fullmatch(r"(\d+)([km]?)", text.lower()).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


def _directive(conf: str, name: str) -> list[str]:
    found = re.findall(rf"^\s*{name}\s+([^;]+);", conf, flags=re.MULTILINE)
    assert len(found) == 1, (name, found)
    return found[0].split()


def test_only_the_proxy_publishes_ports() -> None:
    """TAXII 2.1 §8.2.2: HTTPS. gunicorn is reached only through the TLS proxy."""
    services = _compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["80:80", "443:443"]
    assert services["proxy"]["image"].startswith("nginx:")
    # The hub trusts the proxy's X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER).
    assert services["web"]["environment"]["INTELSHARE_BEHIND_TLS_PROXY"] == "true"


def test_proxy_mounts_match_its_configuration() -> None:
    """The config file, certificates and static files are where the config looks."""
    services = _compose()["services"]
    conf = _nginx_conf()
    # source:target:ro; the proxy writes none of them.
    mounts = {
        target: source
        for source, target, mode in (
            volume.rsplit(":", 2) for volume in services["proxy"]["volumes"]
        )
        if mode == "ro"
    }
    assert len(mounts) == len(services["proxy"]["volumes"])
    assert mounts["/etc/nginx/conf.d/default.conf"] == "./deploy/nginx/intelshare.conf"
    assert mounts["/etc/nginx/certs"] == "${INTELSHARE_TLS_DIR:-./deploy/certs}"
    assert _directive(conf, "ssl_certificate") == ["/etc/nginx/certs/fullchain.pem"]
    assert _directive(conf, "ssl_certificate_key") == ["/etc/nginx/certs/privkey.pem"]
    # Static: collectstatic writes the volume at the image's STATIC_ROOT
    # (INTELSHARE_VAR_DIR/static), the proxy reads it where `alias` points.
    dockerfile = (ROOT / "Dockerfile").read_text()
    var_dir = re.search(r"INTELSHARE_VAR_DIR=(\S+)", dockerfile).group(1)  # type: ignore[union-attr]
    assert services["collectstatic"]["volumes"] == [f"static:{var_dir}/static"]
    assert f"mkdir -p {var_dir}/static" in dockerfile
    assert mounts["/srv/intelshare/static"] == "static"
    assert _directive(conf, "alias") == ["/srv/intelshare/static/"]
    assert f"location {settings.STATIC_URL} {{" in conf
    # The upstream is web's bind address.
    web = services["web"]["command"]
    port = web[web.index("--bind") + 1].rsplit(":", 1)[1]
    assert _directive(conf, "set") == ["$intelshare_web", f"web:{port}"]


def test_proxy_limits_bind_before_gunicorns() -> None:
    """Every request the proxy lets through is within gunicorn's limits, so gunicorn
    never answers with its HTML errors; the body limit is an API root's default
    max_content_length (§3.6.1 errors for the rest come from the proxy)."""
    conf = _nginx_conf()
    count, size = _directive(conf, "large_client_header_buffers")
    buffer = _size(size)
    web = _compose()["services"]["web"]["command"]

    def flag(name: str) -> int:
        return int(web[web.index(name) + 1])

    # nginx: a request line or a header line plus its CRLF fits one buffer.
    assert flag("--limit-request-line") >= buffer - 2
    # gunicorn counts the CRLF, and nginx may add the space after a colon.
    assert flag("--limit-request-field_size") >= buffer + 1
    # At most one header per 4 bytes ("a:" CRLF) of all buffers, plus the proxy's own.
    assert flag("--limit-request-fields") >= int(count) * buffer // 4 + 16
    body = _size(_directive(conf, "client_max_body_size")[0])
    assert body == ApiRoot._meta.get_field("max_content_length").default
