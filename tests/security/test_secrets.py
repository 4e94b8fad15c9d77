"""No secret in logs, error bodies or management API output .

Every log record of every logger is captured at DEBUG, with SQL logging forced
on, while credentials are used right and wrong: HTTP Basic and bearer tokens
on TAXII and on the management API, the admin login form, and a partner feed
created with a secret through the service and through the API (including a
rejected creation). No password, token, Basic header or feed secret may
appear in any record or any response body (nor the secret's ciphertext in a
body).
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

from sync import services as sync_services
from sync.models import Feed
from tests.factories import PASSWORD, World


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[str]:
        formatter = logging.Formatter()
        for record in self.records:
            yield record.getMessage()
            yield repr(record.args)
            if record.exc_info:
                yield formatter.formatException(record.exc_info)


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = root.level
    # Loggers with their own level (django.db.backends, django.request, …) are
    # opened too, so nothing is filtered before the root sees it.
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = True  # SQL statements are logged, with parameters
    try:
        yield handler
    finally:
        connection.force_debug_cursor = forced
        root.removeHandler(handler)
        root.setLevel(saved)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _client(authorization: str | None = None, accept: str = "application/json") -> Client:
    headers = {"HTTP_ACCEPT": accept}
    if authorization:
        headers["HTTP_AUTHORIZATION"] = authorization
    return Client(**headers)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_no_secret_in_logs_or_bodies(world: World, captured: Capture) -> None:
    acme, staff = world.personas["acme"], world.personas["staff"]
    wrong_password = "wrong-" + secrets.token_urlsafe(12)
    wrong_token = "isk_" + secrets.token_urlsafe(32)
    feed_secret = "feed-secret-" + secrets.token_urlsafe(16)
    api_secret = "api-feed-secret-" + secrets.token_urlsafe(16)
    rejected_secret = "rejected-secret-" + secrets.token_urlsafe(16)
    taxii = "application/taxii+json;version=2.1"
    bodies: list[bytes] = []

    def call(client: Client, method: str, path: str, body: Any = None) -> Any:
        if body is None:
            response = getattr(client, method)(path)
        else:
            response = getattr(client, method)(
                path, data=orjson.dumps(body), content_type="application/json"
            )
        bodies.append(response.content)
        return response

    # HTTP Basic and bearer, right and wrong, on TAXII and the management API.
    for authorization in (
        acme.basic,
        _basic(acme.user.username, wrong_password),
        _basic("nobody", PASSWORD),
        acme.bearer,
        f"Bearer {wrong_token}",
        "Bearer " + acme.token[:-2],
    ):
        call(_client(authorization, taxii), "get", "/taxii2/intel/collections/")
        call(_client(authorization), "get", "/api/v1/partners/")
    # The admin's login form, with a wrong password.
    admin = Client()
    bodies.append(
        admin.post(
            "/admin/login/", {"username": acme.user.username, "password": wrong_password}
        ).content
    )
    # A feed with a secret through the service, and through the API (staff).
    partner = acme.user.partner
    feed = sync_services.feed_create(
        name="secret-feed",
        partner=partner,
        direction=Feed.PULL,
        api_root_url="https://partner.invalid/api1/",
        remote_collection_id="c1",
        auth_type=Feed.AUTH_BASIC,
        username="hub",
        secret=feed_secret,
        collection=world.collection,
    )
    staff_client = _client(staff.basic)
    created = call(
        staff_client,
        "post",
        "/api/v1/feeds/",
        {
            "name": "api-secret-feed",
            "partner": partner.slug,
            "direction": "pull",
            "collection": str(world.collection.pk),
            "api_root_url": "https://p.invalid/api1/",
            "remote_collection_id": "c2",
            "auth_type": "bearer",
            "secret": api_secret,
        },
    )
    assert created.status_code == 201, created.content
    rejected = call(
        staff_client,
        "post",
        "/api/v1/feeds/",
        {
            "name": "bad feed name!",
            "partner": partner.slug,
            "direction": "pull",
            "collection": str(world.collection.pk),
            "api_root_url": "ftp://user:pw@p.invalid/",
            "remote_collection_id": "c3",
            "auth_type": "bearer",
            "secret": rejected_secret,
        },
    )
    assert rejected.status_code == 400
    call(staff_client, "get", "/api/v1/feeds/")
    call(staff_client, "get", f"/api/v1/feeds/{feed.pk}/")
    call(staff_client, "patch", f"/api/v1/feeds/{feed.pk}/", {"secret": feed_secret + "2"})

    ciphertexts = list(Feed.objects.values_list("secret_encrypted", flat=True))
    assert all(ciphertexts)
    needles = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "basic header": acme.basic.split()[1],
        "token": acme.token,
        "staff token": staff.token,
        "wrong token": wrong_token,
        "feed secret": feed_secret,
        "api feed secret": api_secret,
        "rejected secret": rejected_secret,
    }
    # The ciphertext is in the (forced) SQL log of its own INSERT/UPDATE, which is
    # harmless without the key; it must still never be shown by the API.
    shown = {**needles, **{f"ciphertext {i}": c for i, c in enumerate(ciphertexts)}}
    texts = list(captured.texts())
    assert len(captured.records) > 20  # the capture really saw the requests and the SQL
    assert any("SELECT" in text for text in texts)
    leaks = [
        (what, text[:200]) for text in texts for what, needle in needles.items() if needle in text
    ]
    assert not leaks, leaks
    body_leaks = [
        (what, body[:200])
        for body in bodies
        for what, needle in shown.items()
        if needle.encode() in body
    ]
    assert not body_leaks, body_leaks


ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_SCRUB = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "SECRET_KEY",
    "INTELSHARE_SYNC_KEYS",
)
KEYS_PROBE = """
import hashlib, django
django.setup()
from django.conf import settings
from sync import crypto
print(hashlib.sha256(str(settings.SECRET_KEY).encode()).hexdigest(),
      hashlib.sha256(",".join(crypto.configured_keys()).encode()).hexdigest())
"""


def _embedded(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_SCRUB}
    env.update(INTELSHARE_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings")
    return env


def test_settings_import_writes_nothing(tmp_path: Path) -> None:
    """Importing the settings (tools, type checkers, a read-only image) creates no
    directory and no key, in the embedded mode too; keys are made on first use."""
    var_dir = tmp_path / "var"
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.EMBEDDED)"],
        cwd=ROOT,
        env=_embedded(var_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
    assert not var_dir.exists()


def test_embedded_keys_are_made_once_and_shared_by_every_process(tmp_path: Path) -> None:
    """The demo's web, worker and beat start together on one var/ directory: however
    their first uses interleave, they end up with one secret key and one feed
    credential key, each in a file only the owner reads."""
    var_dir = tmp_path / "var"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", KEYS_PROBE],
            cwd=ROOT,
            env=_embedded(var_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(out.strip())
    assert len(set(outputs)) == 1, outputs
    for name in ("secret_key", "sync_keys"):
        path = var_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text(encoding="utf-8").strip()) >= 44
