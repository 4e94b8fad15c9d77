"""sync.client against live servers: medallion 3.0.0 as a partner, plus tiny
loopback servers for the behaviours medallion cannot show (silence, garbage,
``more`` without ``next``, TAXII 2.0 ranges). No mocks; no database.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import certifi
import pytest

from intelshare.stix import format_timestamp, parse_timestamp
from sync.client import (
    BasicAuth,
    BearerAuth,
    ClientCert,
    HeaderAuth,
    Page,
    RemoteProtocolError,
    RemoteRejected,
    RemoteUnavailable,
    TaxiiClient,
    Timeout,
    parse_retry_after,
)
from tests.support.medallion import (
    DEFAULT_COLLECTIONS,
    RO_COLLECTION,
    RW_COLLECTION,
    MedallionCollection,
    MedallionServer,
    make_indicators,
)

BIG = "5d0c8f36-7a4e-4a4b-9d8e-6f1d2b0c3a01"
RESUME = "5d0c8f36-7a4e-4a4b-9d8e-6f1d2b0c3a02"
BIG_COUNT = 1010
SEED_BASE = datetime(2024, 5, 1, tzinfo=UTC)
FAST = Timeout(connect=0.5, read=1.0)


def _stamp(seq: int) -> datetime:
    """Distinct date_added values with a non-zero microsecond part."""
    return SEED_BASE + timedelta(microseconds=1 + 997 * seq)


def _seed(count: int, label: str) -> list[tuple[datetime, dict[str, Any]]]:
    return [(_stamp(i), obj) for i, obj in enumerate(make_indicators(count, label=label))]


BIG_SEED = _seed(BIG_COUNT, "big")
RESUME_SEED = _seed(130, "resume")


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedallionServer]:
    collections = (
        *DEFAULT_COLLECTIONS,
        MedallionCollection(id=BIG, title="Big", can_write=False, seed=BIG_SEED),
        MedallionCollection(id=RESUME, title="Resume", seed=RESUME_SEED),
    )
    workdir = tmp_path_factory.mktemp("medallion")
    with MedallionServer(workdir, collections=collections) as server:
        yield server


def _client(server: MedallionServer, collection: str, **kwargs: Any) -> TaxiiClient:
    kwargs.setdefault("auth", BasicAuth(server.username, server.password))
    kwargs.setdefault("timeout", Timeout(connect=2, read=30))
    return TaxiiClient(server.api_root_url, collection, **kwargs)


def _ids(pages: list[Page]) -> list[str]:
    return [obj["id"] for page in pages for obj in page.objects]


# --- medallion as the partner ---------------------------------------------


@pytest.mark.medallion
def test_pages_pull_every_object_once_across_small_pages(
    partner: MedallionServer,
) -> None:
    """TAXII 2.1 §3.5: follow ``next`` (limit 50) until ``more`` is false."""
    with _client(partner, BIG) as client:
        pages = list(client.pages(limit=50))

    ids = _ids(pages)
    assert len(ids) == BIG_COUNT
    assert len(set(ids)) == BIG_COUNT
    assert set(ids) == {obj["id"] for _, obj in BIG_SEED}
    assert len(pages) == 21
    assert all(0 < len(page.objects) <= 50 for page in pages)
    assert [page.more for page in pages] == [True] * 20 + [False]
    assert all(page.next for page in pages[:-1])


@pytest.mark.medallion
def test_pages_report_date_added_headers_to_the_microsecond(
    partner: MedallionServer,
) -> None:
    """TAXII 2.1 §3.2 headers and §2 timestamps (microsecond precision)."""
    raw = partner.get(f"api1/collections/{RESUME}/objects/", limit="50")
    assert raw.headers["X-TAXII-Date-Added-Last"] == "2024-05-01T00:00:00.048854Z"
    with _client(partner, RESUME) as client:
        first = next(iter(client.pages(limit=50)))

    assert first.date_added_first == _stamp(0)
    assert first.date_added_first.microsecond == 1
    assert first.date_added_last == _stamp(49)
    assert first.date_added_last.microsecond == 48854
    assert first.checkpoint == _stamp(49) - timedelta(microseconds=1)


@pytest.mark.medallion
def test_resume_from_last_page_date_added_gets_only_new_objects(
    partner: MedallionServer,
) -> None:
    """TAXII 2.1 §3.4 ``added_after``: a checkpoint taken from
    ``X-TAXII-Date-Added-Last`` yields exactly what was added later."""
    with _client(partner, RESUME) as client:
        pages = list(client.pages(limit=50))
        assert len(_ids(pages)) == len(RESUME_SEED)
        checkpoint = pages[-1].date_added_last
        assert checkpoint == _stamp(len(RESUME_SEED) - 1)

        new = make_indicators(7, label="resume-new")
        status = partner.add_objects(RESUME, new)
        assert status["success_count"] == 7

        resumed = list(client.pages(added_after=checkpoint, limit=50))
        assert sorted(_ids(resumed)) == sorted(obj["id"] for obj in new)
        assert resumed[-1].date_added_last is not None
        assert resumed[-1].date_added_last > checkpoint

        # Nothing after the new checkpoint: no page at all.
        assert list(client.pages(added_after=resumed[-1].date_added_last)) == []


@pytest.mark.medallion
def test_api_root_info(partner: MedallionServer) -> None:
    """TAXII 2.1 §4.2 Get API Root Information."""
    with _client(partner, RW_COLLECTION) as client:
        info = client.api_root_info()
    assert info.title == "Partner API root"
    assert info.max_content_length == partner.max_content_length
    assert info.versions == ("application/taxii+json;version=2.1",)


@pytest.mark.medallion
def test_add_objects_and_wait_for_status(partner: MedallionServer) -> None:
    """TAXII 2.1 §5.5 Add Objects and §4.3 Get Status."""
    objects = make_indicators(5, label="push")
    with _client(partner, RW_COLLECTION) as client:
        status = client.add_objects({"objects": objects})
        final = client.wait_for_status(status["id"], timeout=5, poll_interval=0.1)
        assert final["status"] == "complete"
        assert final["success_count"] == 5
        assert final["failure_count"] == 0

        # medallion 3.0.0 reports a re-sent identical version as a failure.
        again = client.add_objects({"objects": objects})
        assert client.get_status(again["id"])["failure_count"] == 5


@pytest.mark.medallion
def test_write_to_read_only_collection_is_rejected(partner: MedallionServer) -> None:
    """TAXII 2.1 §5.2.1: ``can_write`` false means Add Objects is refused."""
    with (
        _client(partner, RO_COLLECTION) as client,
        pytest.raises(RemoteRejected) as caught,
    ):
        client.add_objects({"objects": make_indicators(1, label="ro")})
    assert caught.value.status_code == 403


@pytest.mark.medallion
def test_unknown_collection_is_rejected_404(partner: MedallionServer) -> None:
    """TAXII 2.1 §5.2: an unknown collection is 404, a permanent failure."""
    missing = "00000000-0000-4000-8000-000000000000"
    with _client(partner, missing) as client, pytest.raises(RemoteRejected) as caught:
        list(client.pages())
    assert caught.value.status_code == 404


@pytest.mark.medallion
def test_wrong_basic_password_is_rejected_401(partner: MedallionServer) -> None:
    """TAXII 2.1 §1.6.9/§5.1: failed authentication is 401, not retryable."""
    auth = BasicAuth(partner.username, "not-the-password")
    with _client(partner, BIG, auth=auth) as client:
        with pytest.raises(RemoteRejected) as caught:
            list(client.pages(limit=50))
        assert caught.value.status_code == 401
        assert not isinstance(caught.value, RemoteUnavailable)


@pytest.mark.medallion
def test_stopped_server_is_unavailable_quickly_and_restart_forgets_posts(
    tmp_path: Path,
) -> None:
    """A partner that goes away is transient (retry later), and fails fast.

    medallion's memory backend never saves: after a restart only the seed
    remains.
    """
    seed = _seed(3, "restart")
    collections = (MedallionCollection(id=RW_COLLECTION, title="RW", seed=seed),)
    with (
        MedallionServer(tmp_path, collections=collections) as server,
        _client(server, RW_COLLECTION, timeout=FAST) as client,
    ):
        server.add_objects(RW_COLLECTION, make_indicators(2, label="lost"))
        assert len(_ids(list(client.pages()))) == 5
        server.stop()
        started = time.monotonic()
        with pytest.raises(RemoteUnavailable):
            list(client.pages())
        assert time.monotonic() - started < 2

        server.restart()
        assert sorted(_ids(list(client.pages()))) == sorted(obj["id"] for _, obj in seed)
    assert not server.running


@pytest.mark.medallion
def test_expired_next_token_requeries_from_the_last_page(tmp_path: Path) -> None:
    """TAXII 2.1 §3.4: ``next`` is server-specific; medallion forgets it
    ``session_timeout`` seconds after the query began and answers 400. The
    client re-queries from the last page's date_added instead of failing."""
    seed = _seed(160, "expire")
    collections = (MedallionCollection(id=RW_COLLECTION, title="RW", seed=seed),)
    pages: list[Page] = []
    with (
        MedallionServer(
            tmp_path, collections=collections, session_timeout=1, check_interval=1
        ) as server,
        _client(server, RW_COLLECTION) as client,
    ):
        for page in client.pages(limit=50):
            pages.append(page)
            if len(pages) == 1:
                time.sleep(3)  # medallion sweeps the token meanwhile
    ids = _ids(pages)
    assert set(ids) == {obj["id"] for _, obj in seed}
    assert len(ids) == len(seed) + 1  # the first page's last object, re-read


# --- loopback servers for what medallion cannot do --------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never answers a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api1/"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


def test_silent_server_times_out_as_unavailable(silent_server: str) -> None:
    """The read timeout bounds every request, even on an open connection."""
    client = TaxiiClient(silent_server, RW_COLLECTION, timeout=FAST)
    started = time.monotonic()
    with client, pytest.raises(RemoteUnavailable):
        list(client.pages())
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5


@pytest.fixture
def raw_server() -> Iterator[Callable[..., str]]:
    """Answers every connection with fixed bytes, then closes it: the first ``at_once``
    bytes (all by default) at once, the rest one byte every ``drip`` seconds (each byte
    well within a read timeout, so only a whole-request deadline ends it early)."""
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(reply: bytes, at_once: int | None = None, drip: float = 0.0) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        head = len(reply) if at_once is None else at_once

        def answer(conn: socket.socket) -> None:
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    conn.sendall(reply[:head])
                    for i in range(head, len(reply)):
                        if stop.wait(drip):
                            return
                        conn.sendall(reply[i : i + 1])
                except OSError:
                    pass  # the client hung up (what a deadline does)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/api1/"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="not-http"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
            b"Connection: close\r\n\r\n<html></html>",
            id="html",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n"
            b"Content-Length: 9\r\nConnection: close\r\n\r\n{garbage!",
            id="bad-json",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n[]",
            id="json-array",
        ),
    ],
)
def test_garbage_answer_is_a_protocol_error(
    raw_server: Callable[[bytes], str], reply: bytes
) -> None:
    """A reply that is not a TAXII 2.1 resource (§3.1 media types, §1.6.7 JSON)."""
    with (
        TaxiiClient(raw_server(reply), RW_COLLECTION, timeout=FAST) as client,
        pytest.raises(RemoteProtocolError),
    ):
        list(client.pages())


def _taxii_reply(resource: dict[str, Any]) -> bytes:
    body = json.dumps(resource)
    stamp = "2026-01-01T00:00:00.000000Z"
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n"
        f"Content-Length: {len(body)}\r\nX-TAXII-Date-Added-First: {stamp}\r\n"
        f"X-TAXII-Date-Added-Last: {stamp}\r\nConnection: close\r\n\r\n"
    )
    return (head + body).encode()


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_trickling_partner_is_cut_off_at_the_request_deadline(
    raw_server: Callable[..., str], phase: str
) -> None:
    """One byte every 0.2 s never trips the 1 s read timeout; the 1.5 s deadline for
    the whole request ends it, whether the partner trickles its headers or its body,
    as a transient failure (retried later with backoff)."""
    reply = _taxii_reply({"more": False, "objects": make_indicators(3, label="drip")})
    at_once = reply.index(b"\r\n\r\n") + 4 if phase == "body" else 0
    client = TaxiiClient(
        raw_server(reply, at_once, 0.2),
        RW_COLLECTION,
        timeout=Timeout(connect=0.5, read=1.0, total=1.5),
    )
    started = time.monotonic()
    with client, pytest.raises(RemoteUnavailable, match="timed out"):
        list(client.pages())
    assert 1.4 <= time.monotonic() - started < 2.5


def test_a_slow_but_complete_answer_within_the_deadline_is_read(
    raw_server: Callable[..., str],
) -> None:
    """The deadline ends only what exceeds it: an API root (§4.2.1) whose last 40
    bytes arrive 0.02 s apart (0.8 s in all) under a 3 s deadline is read whole."""
    reply = _taxii_reply(
        {
            "title": "Slow partner",
            "max_content_length": 104857600,
            "versions": ["application/taxii+json;version=2.1"],
        }
    )
    client = TaxiiClient(
        raw_server(reply, len(reply) - 40, 0.02),
        RW_COLLECTION,
        timeout=Timeout(connect=0.5, read=1.0, total=3.0),
    )
    with client:
        info = client.api_root_info()
    assert (info.title, info.max_content_length) == ("Slow partner", 104857600)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(429, "7", 7.0), (503, None, None), (500, "soon", None)],
)
def test_overload_and_server_errors_are_unavailable_with_retry_after(
    raw_server: Callable[[bytes], str],
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    """429 and 5xx are transient; ``Retry-After`` (RFC 9110) is passed on."""
    header = f"Retry-After: {retry_after}\r\n" if retry_after else ""
    reply = (
        f"HTTP/1.1 {status} Busy\r\n{header}Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        TaxiiClient(raw_server(reply), RW_COLLECTION, timeout=FAST) as client,
        pytest.raises(RemoteUnavailable) as caught,
    ):
        list(client.pages())
    assert caught.value.status_code == status
    assert caught.value.retry_after == expected


class FakeTaxii(ThreadingHTTPServer):
    """A minimal TAXII 2.1 or 2.0 collection over HTTP/1.1 keep-alive.

    ``mode``: ``"no-next"`` pages by ``added_after`` only (§3.5 fallback);
    ``"stuck"`` always answers the first page with more=true and no next;
    ``"v20"`` pages by ``Range: items=a-b`` (TAXII 2.0).
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, mode: str, count: int) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.mode = mode
        self.entries = [
            (SEED_BASE + timedelta(milliseconds=i), obj)
            for i, obj in enumerate(make_indicators(count, label=f"fake-{mode}"))
        ]
        self.connections = 0
        self.object_requests = 0
        self.queries: list[dict[str, str]] = []

    @property
    def api_root_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api1/"


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeTaxii
    timeout = 5

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        v20 = self.server.mode == "v20"
        taxii_type = (
            "application/vnd.oasis.taxii+json; version=2.0"
            if v20
            else "application/taxii+json;version=2.1"
        )
        url = urlsplit(self.path)
        if not url.path.endswith("/objects/"):
            self._send(
                200,
                {
                    "id": RW_COLLECTION,
                    "title": "fake",
                    "can_read": True,
                    "can_write": False,
                },
                taxii_type,
            )
            return
        self.server.object_requests += 1
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.queries.append(query)
        entries = self.server.entries
        if "added_after" in query and self.server.mode == "no-next":
            after = parse_timestamp(query["added_after"])
            entries = [(t, o) for t, o in entries if t > after]
        if v20:
            match = re.match(r"items[= ](\d+)-(\d+)", self.headers.get("Range", ""))
            assert match is not None
            start, end = int(match.group(1)), int(match.group(2))
            chunk = entries[start : end + 1]
            headers = {"Content-Range": f"items {start}-{start + len(chunk) - 1}/{len(entries)}"}
            body: dict[str, Any] = {"type": "bundle", "objects": [o for _, o in chunk]}
            self._send(
                206,
                body,
                "application/vnd.oasis.stix+json; version=2.0",
                chunk,
                headers,
            )
            return
        limit = int(query.get("limit", "100"))
        chunk = entries[:limit]
        body = {"objects": [o for _, o in chunk], "more": len(entries) > limit}
        self._send(200, body, taxii_type, chunk)

    def _send(
        self,
        status: int,
        body: dict[str, Any],
        content_type: str,
        chunk: list[tuple[datetime, dict[str, Any]]] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if chunk:
            self.send_header("X-TAXII-Date-Added-First", format_timestamp(chunk[0][0]))
            self.send_header("X-TAXII-Date-Added-Last", format_timestamp(chunk[-1][0]))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_taxii() -> Iterator[Callable[[str, int], FakeTaxii]]:
    servers: list[FakeTaxii] = []

    def start(mode: str, count: int) -> FakeTaxii:
        server = FakeTaxii(mode, count)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_more_without_next_falls_back_to_date_added_last_on_one_connection(
    fake_taxii: Callable[[str, int], FakeTaxii],
) -> None:
    """TAXII 2.1 §3.5: with ``more`` and no ``next``, page on with
    ``added_after`` = ``X-TAXII-Date-Added-Last``; the session is reused."""
    server = fake_taxii("no-next", 230)
    with TaxiiClient(server.api_root_url, RW_COLLECTION, timeout=FAST) as client:
        pages = list(client.pages(limit=50))
    # Each follow-up re-reads the previous page's last object (Last - 1 µs).
    assert [len(page.objects) for page in pages] == [50, 50, 50, 50, 34]
    assert len(set(_ids(pages))) == 230
    assert all(page.next is None for page in pages)
    assert server.connections == 1
    # §3.4.1: every version, on the follow-ups too ("plus the same options", §3.5).
    assert [q.get("match[version]") for q in server.queries] == ["all"] * 5
    assert "added_after" not in server.queries[0]
    assert all("added_after" in q for q in server.queries[1:])


def test_more_without_next_or_progress_stops_instead_of_looping(
    fake_taxii: Callable[[str, int], FakeTaxii],
) -> None:
    """The loop taxii2-client 2.3's ``as_pages`` falls into: a
    server repeating ``more: true`` with no ``next`` and the same header."""
    server = fake_taxii("stuck", 120)
    seen: list[Page] = []
    with (
        TaxiiClient(server.api_root_url, RW_COLLECTION, timeout=FAST) as client,
        pytest.raises(RemoteProtocolError, match="no progress"),
    ):
        seen.extend(client.pages(limit=50))
    assert len(seen) == 1
    assert server.object_requests == 2


def test_taxii_20_remote_pages_by_range(
    fake_taxii: Callable[[str, int], FakeTaxii],
) -> None:
    """TAXII 2.0 §3.4 pagination: ``Range: items=a-b`` / ``Content-Range``."""
    server = fake_taxii("v20", 125)
    client = TaxiiClient(server.api_root_url, RW_COLLECTION, version="2.0")
    with client:
        pages = list(client.pages(limit=50))
    assert [len(page.objects) for page in pages] == [50, 50, 25]
    assert len(set(_ids(pages))) == 125
    assert pages[-1].date_added_last == SEED_BASE + timedelta(milliseconds=124)
    assert not pages[-1].more
    # TAXII 2.0 filtering (§3.5) has the same default, the latest version: ask for all.
    assert [q.get("match[version]") for q in server.queries] == ["all"] * 3


class _Recorder(ThreadingHTTPServer):
    """Records request headers; answers 307 to ``redirect_to`` or else 401."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, redirect_to: str | None = None) -> None:
        super().__init__((host, 0), _RecorderHandler)
        self.redirect_to = redirect_to
        self.seen: list[dict[str, str]] = []

    @property
    def base(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}/api1/"


class _RecorderHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.server.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + self.path[len("/api1/") :])
        else:
            self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (HeaderAuth("X-Api-Key", "k-123"), "x-api-key", "k-123"),
        (BearerAuth("t-456"), "authorization", "Bearer t-456"),
        (BasicAuth("u", "p"), "authorization", "Basic dTpw"),
    ],
)
def test_credentials_reach_the_partner_but_not_a_redirect_target(
    auth: BasicAuth | BearerAuth | HeaderAuth, header: str, value: str
) -> None:
    """Credentials go to the configured host only (TAXII 2.1 §1.6.9 auth is
    per server); requests strips ``Authorization`` across hosts, the client
    strips a custom key header too."""
    other = _Recorder("127.0.0.2")
    partner = _Recorder("127.0.0.1", redirect_to=other.base)
    for server in (other, partner):
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
    try:
        client = TaxiiClient(partner.base, RW_COLLECTION, auth=auth, timeout=FAST)
        with client, pytest.raises(RemoteRejected):
            list(client.pages())
    finally:
        for server in (other, partner):
            server.shutdown()
            server.server_close()
    assert partner.seen[0][header] == value
    assert other.seen
    assert header not in other.seen[0]
    assert partner.seen[0]["user-agent"].startswith("intelshare-sync/")


def _openssl_cert(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def mutual_tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, ClientCert]]:
    """HTTPS on 127.0.0.1 that demands a client certificate, then answers 401."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    server_cert, server_key = _openssl_cert(tmp_path, "server")
    client_cert, client_key = _openssl_cert(tmp_path, "client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(client_cert)
    server = _Recorder("127.0.0.1")
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    base = f"https://127.0.0.1:{server.server_address[1]}/api1/"
    yield base, server_cert, ClientCert(str(client_cert), str(client_key))
    server.shutdown()
    server.server_close()


def test_tls_verifies_by_default_and_presents_the_client_certificate(
    mutual_tls_server: tuple[str, Path, ClientCert], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAXII 2.1 §8.5 (clients verify the server) and §8.3.1 (client certs).

    A feed's pinned CA wins over ``REQUESTS_CA_BUNDLE`` (which requests would
    otherwise let override ``Session.verify``).
    """
    base, server_cert, client_cert = mutual_tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    default = TaxiiClient(base, RW_COLLECTION, timeout=FAST)
    with default, pytest.raises(RemoteUnavailable, match="TLS"):
        list(default.pages())
    pinned = TaxiiClient(base, RW_COLLECTION, timeout=FAST, verify=str(server_cert))
    with pinned, pytest.raises(RemoteUnavailable):
        list(pinned.pages())
    full = TaxiiClient(
        base, RW_COLLECTION, timeout=FAST, verify=str(server_cert), client_cert=client_cert
    )
    with full, pytest.raises(RemoteRejected) as caught:
        list(full.pages())
    assert caught.value.status_code == 401


# --- pure helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T00:00:00.123456Z", datetime(2024, 5, 1, 0, 0, 0, 123456, UTC)),
        ("2024-05-01T00:00:00.1Z", datetime(2024, 5, 1, 0, 0, 0, 100000, UTC)),
        ("2024-05-01T00:00:00Z", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T00:00:00.1234569Z", datetime(2024, 5, 1, 0, 0, 0, 123456, UTC)),
    ],
)
def test_header_timestamps_are_read_by_the_hubs_one_parser(text: str, expected: datetime) -> None:
    """TAXII 2.1 §2 timestamps; extra digits truncate (never skip data)."""
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", ["2024-05-01", "2024-05-01T00:00:00", "yesterday", "2024-05-01T02:00:00+02:00"]
)
def test_non_utc_or_partial_timestamps_are_refused(text: str) -> None:
    """§2: UTC with ``Z``; a partner header with an offset is not TAXII."""
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(text)


def test_a_naive_added_after_is_refused_before_any_request() -> None:
    client = TaxiiClient("http://127.0.0.1:9/api/", "c", timeout=FAST)
    with client, pytest.raises(ValueError, match="aware"):
        next(client.pages(added_after=datetime(2024, 5, 1)))  # noqa: DTZ001
    assert format_timestamp(datetime(2024, 5, 1, 0, 0, 0, 10, UTC)) == (
        "2024-05-01T00:00:00.000010Z"
    )


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("later", now=now) is None
    assert parse_retry_after(None) is None
