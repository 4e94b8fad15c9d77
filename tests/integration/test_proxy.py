"""The front door: Debian's nginx running deploy/nginx/intelshare.conf in front of a
live hub under gunicorn started with docker-compose's web command.

TAXII 2.1 §8.2.2 (HTTPS, TLS 1.2+, no RFC 7540-blacklisted suites), §3.6.1 (every
error is a TAXII error message, including those the proxy answers itself).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.staticfiles import finders
from taxii2client.v21 import Server, as_pages

from intelshare.localca import LocalCertificate, make_local_ca
from intelshare.models import ApiRoot
from tests.factories import PASSWORD, World, indicator, make_world
from tests.integration import celery_worker
from tests.support.nginx import NginxServer, free_port, nginx_binary
from tools.benchmarks.servers import gunicorn_extra, venv_bin

ROOT = Path(__file__).resolve().parents[2]
TAXII = "application/taxii+json;version=2.1"
TITLES = {
    400: "Bad Request",
    413: "Payload Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        nginx_binary() is None,
        reason="Debian's nginx is not installed (apt-get install nginx; .ci/run installs it)",
    ),
]


@pytest.fixture(autouse=True)
def _verify_means_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a Session's verify=, which is how
    # taxii2-client passes its CA file: the test CA would be ignored.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificate:
    return make_local_ca(tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1"])


@pytest.fixture
def front_door(tmp_path: Path, cert: LocalCertificate) -> Iterator[Callable[..., NginxServer]]:
    started: list[NginxServer] = []

    def start(upstream: str, *, read_timeout: str | None = None) -> NginxServer:
        workdir = tmp_path / f"nginx{len(started)}"
        static = workdir / "static"
        static.mkdir(parents=True)
        server = NginxServer(workdir, upstream, cert, static, read_timeout=read_timeout)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def _closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


def assert_taxii_error(response: Any, status: int) -> None:
    """A TAXII error message (§3.6.1) with the hub's shape, produced by the proxy."""
    assert response.status_code == status, response.text[:300]
    assert_taxii_error_body(response.headers["Content-Type"], response.content, status)


def assert_taxii_error_body(content_type: str, content: bytes, status: int) -> None:
    assert content_type == TAXII
    body = orjson.loads(content)
    assert set(body) == {"title", "description", "error_id", "http_status"}
    assert body["title"] == TITLES[status]
    assert body["http_status"] == str(status)
    assert body["description"] and len(body["error_id"]) == 32


def test_limits_are_taxii_errors_before_the_hub(
    front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """10 KB URL → 414, 10 KB Authorization → 431 (nginx's internal 494), on port 80
    too; a request that is not HTTP → 400; a body over an API root's default
    max_content_length → 413 (§5.5). No hub runs: none of these reaches it."""
    proxy = front_door(_closed_port())
    ca = str(cert.ca)
    headers = {"Accept": TAXII}
    for base in (proxy.https, proxy.http):
        long_url = f"{base}/taxii2/intel/collections/{'a' * 10240}/objects/"
        assert_taxii_error(requests.get(long_url, headers=headers, verify=ca, timeout=10), 414)
        big_auth = {**headers, "Authorization": "Basic " + "A" * 10240}
        assert_taxii_error(
            requests.get(f"{base}/taxii2/", headers=big_auth, verify=ca, timeout=10), 431
        )

    # Not HTTP: an HTTP/1.1 request without Host.
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /taxii2/ HTTP/1.1\r\nAccept: " + TAXII.encode() + b"\r\n\r\n")
        head, _, body = tls.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert f"Content-Type: {TAXII}".encode() in head.split(b"\r\n")
    assert_taxii_error_body(TAXII, body, 400)

    # Refused from the Content-Length, before any of the body is read.
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.https_port, timeout=10, context=context)
    conn.putrequest("POST", "/taxii2/intel/collections/llm-misuse/objects/")
    conn.putheader("Content-Type", TAXII)
    limit = ApiRoot._meta.get_field("max_content_length").default
    conn.putheader("Content-Length", str(limit + 1))
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 413
    assert_taxii_error_body(response.headers["Content-Type"], body, 413)


def test_plain_http_is_redirected_to_https(front_door: Callable[..., NginxServer]) -> None:
    """§8.2.2: TAXII over HTTPS only. 308 keeps the method and body of a POST. Plain
    HTTP sent to the TLS port is redirected the same way."""
    proxy = front_door(_closed_port())
    path = "/taxii2/intel/collections/llm-misuse/objects/?match[type]=indicator"
    plain_to_tls = f"http://127.0.0.1:{proxy.https_port}"
    for base, method in ((proxy.http, "GET"), (proxy.http, "POST"), (plain_to_tls, "GET")):
        response = requests.request(
            method,
            base + path,
            allow_redirects=False,
            headers={"Host": "intel.example.org"},
            timeout=10,
        )
        assert response.status_code == 308, base
        sent = response.request.path_url  # as encoded by requests
        assert response.headers["Location"] == "https://intel.example.org" + sent


def test_hub_down_or_slow_is_a_taxii_error(
    front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """Nothing listening upstream → 502; an upstream that never answers → 504; both
    TAXII error messages with Retry-After, as the hub's own 503."""
    ca = str(cert.ca)
    down = front_door(_closed_port())
    response = requests.get(
        f"{down.https}/taxii2/", headers={"Accept": TAXII}, verify=ca, timeout=10
    )
    assert_taxii_error(response, 502)
    assert response.headers["Retry-After"] == "5"

    with socket.socket() as silent:
        # Connections complete in the kernel's backlog; nothing ever answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = front_door(f"127.0.0.1:{silent.getsockname()[1]}", read_timeout="1s")
        response = requests.get(
            f"{slow.https}/taxii2/", headers={"Accept": TAXII}, verify=ca, timeout=10
        )
    assert_taxii_error(response, 504)
    assert response.headers["Retry-After"] == "5"


def test_static_files_come_from_the_collected_directory(
    front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """The proxy serves STATIC_ROOT's layout itself: answered while the hub is down."""
    proxy = front_door(_closed_port())
    source = Path(finders.find("admin/css/base.css"))  # type: ignore[arg-type]
    target = proxy.static_root / "admin" / "css" / "base.css"
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    response = requests.get(
        f"{proxy.https}/{settings.STATIC_URL.strip('/')}/admin/css/base.css",
        verify=str(cert.ca),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/css"
    assert response.content == source.read_bytes()
    assert response.headers["Cache-Control"] == "max-age=60"


def test_tls_versions_and_suites(
    front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """§8.2.2: TLS 1.3 and 1.2 accepted; a TLS 1.2 suite on the RFC 7540 Appendix A
    blacklist (CBC) refused, while the same client with an AEAD suite connects."""
    proxy = front_door(_closed_port())

    def handshake(maximum: ssl.TLSVersion, ciphers: str | None = None) -> str:
        context = ssl.create_default_context(cafile=str(cert.ca))
        context.maximum_version = maximum
        if ciphers:
            context.set_ciphers(ciphers)
            # Offered by this client: a refusal is then the server's.
            assert ciphers in {c["name"] for c in context.get_ciphers()}
        with (
            socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            return f"{tls.version()} {tls.cipher()[0]}"  # type: ignore[index]

    assert handshake(ssl.TLSVersion.TLSv1_3).startswith("TLSv1.3 ")
    assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256") == (
        "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    with pytest.raises(ssl.SSLError):
        handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA")


# --- with a live hub -----------------------------------------------------------------


def _web_command(port: int) -> list[str]:
    """docker-compose's web command (its limits included), on loopback, one worker."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = list(compose["services"]["web"]["command"])
    assert command[:2] == ["gunicorn", "config.wsgi"]
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[command.index("--workers") + 1] = "1"
    gunicorn = venv_bin("gunicorn")
    # In compose the proxy is another container, an address gunicorn does not trust
    # for X-Forwarded-Proto; on loopback it would, and set the scheme itself. Trust
    # nobody here, so only INTELSHARE_BEHIND_TLS_PROXY makes the hub see https.
    return [
        str(gunicorn),
        *command[1:],
        "--forwarded-allow-ips",
        "192.0.2.1",
        *gunicorn_extra(gunicorn),
    ]


@pytest.fixture(scope="module")
def hub_process(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One gunicorn on the test database for the module; each test makes its world."""
    with django_db_blocker.unblock():
        database_url = celery_worker.test_database_url()
    tmp = tmp_path_factory.mktemp("hub")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INTELSHARE_VAR_DIR": str(tmp / "var"),
        "SECRET_KEY": str(settings.SECRET_KEY),
        "INTELSHARE_SYNC_KEYS": ",".join(settings.INTELSHARE_SYNC_KEYS)
        or Fernet.generate_key().decode(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CACHE_URL": settings.CACHE_URL,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "INTELSHARE_BEHIND_TLS_PROXY": "true",
        # Observable only if the hub sees https: no redirect, and an HSTS header.
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DEBUG", None)
    log_path = tmp / "gunicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _web_command(port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not start"
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                # Refused before the bind, timed out while the worker boots.
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def hub(hub_process: str, transactional_db: None) -> tuple[str, World]:
    world = make_world()
    # The hub process checks passwords with Django's default hashers; the test
    # settings' fast MD5 is not among them.
    user = world.personas["acme"].user
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return hub_process, world


def test_taxii_through_tls_and_the_hub_sees_https(
    hub: tuple[str, World], front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """taxii2-client with verify= the test CA: add objects (§5.5) and pull them back in
    pages (§3.5, §5.4) through the proxy. The hub, told to redirect plain HTTP, does not
    redirect these and adds HSTS: it sees https from X-Forwarded-Proto."""
    upstream, world = hub
    proxy = front_door(upstream)
    ca = str(cert.ca)
    server = Server(
        f"{proxy.https}/taxii2/",
        user=world.personas["acme"].user.username,
        password=PASSWORD,
        verify=ca,
    )
    collection = next(c for c in server.default.collections if c.alias == "llm-misuse")
    objects = [indicator(n) for n in range(25)]
    status = collection.add_objects(
        {"objects": objects}, wait_for_completion=True, poll_interval=0.1, timeout=30
    )
    assert (status.status, status.success_count) == ("complete", 25)
    pulled = [
        o["id"]
        for page in as_pages(collection.get_objects, per_request=10)
        for o in page.get("objects", [])
    ]
    assert sorted(pulled) == sorted(o["id"] for o in objects)

    auth = (world.personas["acme"].user.username, PASSWORD)
    through = requests.get(
        f"{proxy.https}/taxii2/",
        auth=auth,
        verify=ca,
        timeout=10,
        headers={"Accept": TAXII, "X-Forwarded-Proto": "http"},
    )
    assert through.status_code == 200
    assert through.headers["Strict-Transport-Security"] == "max-age=3600"
    direct = requests.get(
        f"http://{upstream}/taxii2/",
        auth=auth,
        allow_redirects=False,
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert direct.status_code == 301
    assert direct.headers["Location"] == f"https://{upstream}/taxii2/"
    assert "Strict-Transport-Security" not in direct.headers


def test_what_the_proxy_passes_the_hub_accepts(
    hub: tuple[str, World], front_door: Callable[..., NginxServer], cert: LocalCertificate
) -> None:
    """At the limits: the longest request line and header field the proxy lets
    through are answered by the hub (TAXII, 200); one byte more is the proxy's TAXII
    414/431. 150 header fields (gunicorn's default allows 100) reach the hub too. No
    answer is gunicorn's HTML."""
    upstream, world = hub
    proxy = front_door(upstream)
    ca = str(cert.ca)
    headers = {"Accept": TAXII, "Authorization": world.personas["acme"].basic}
    session = requests.Session()
    session.verify = ca

    request_line = len("GET /taxii2/?pad= HTTP/1.1")
    for length, status in ((8189, 200), (8190, 200), (8191, 414), (8192, 414)):
        url = f"{proxy.https}/taxii2/?pad={'a' * (length - request_line)}"
        response = session.get(url, headers=headers, allow_redirects=False, timeout=10)
        assert response.headers["Content-Type"] == TAXII, (length, response.text[:200])
        assert response.status_code == status, length
    for length, status in ((8189, 200), (8190, 200), (8191, 431), (8192, 431)):
        pad = {"X-Pad": "b" * (length - len("X-Pad: "))}
        response = session.get(
            f"{proxy.https}/taxii2/", headers={**headers, **pad}, allow_redirects=False, timeout=10
        )
        assert response.headers["Content-Type"] == TAXII, (length, response.text[:200])
        assert response.status_code == status, length
    many = {f"X-Field-{n}": str(n) for n in range(150)}
    response = session.get(f"{proxy.https}/taxii2/", headers={**headers, **many}, timeout=10)
    assert (response.status_code, response.headers["Content-Type"]) == (200, TAXII)
