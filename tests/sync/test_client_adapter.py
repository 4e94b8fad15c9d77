"""The taxii2client internals ``sync.client.adapter`` relies on (taxii2-client 2.3):
if an upgrade moves them, these fail before any feed does."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
import requests
from taxii2client import v21
from taxii2client.common import _HTTPConnection

from sync.client.adapter import connection, status_dict


class _Root(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("X-Adapter", ""))
        body = (
            b'{"title": "root", "versions": ["application/taxii+json;version=2.1"],'
            b' "max_content_length": 1000}'
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/taxii+json;version=2.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def root() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Root)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()


def test_the_private_connection_still_takes_these_arguments_and_holds_a_session() -> None:
    params = inspect.signature(_HTTPConnection.__init__).parameters
    assert {"user_agent", "version"} <= set(params)
    conn = _HTTPConnection(user_agent="x", version="2.1")
    assert isinstance(conn.session, requests.Session)
    conn.session.close()


def test_every_request_of_an_endpoint_goes_through_our_session(root: str) -> None:
    session = requests.Session()
    session.headers["X-Adapter"] = "ours"
    conn = connection(session, user_agent="intelshare-test", version="2.1")
    assert v21.ApiRoot(root, conn=conn).title == "root"
    assert _Root.seen[-1] == "ours"


def test_a_status_keeps_its_parsed_json_in_raw() -> None:
    raw = {
        "id": "2d086da7-4bdc-4f91-900e-d77486753710",
        "status": "complete",
        "total_count": 1,
        "success_count": 1,
        "failure_count": 0,
        "pending_count": 0,
    }
    status = v21.Status("http://127.0.0.1:9/api/status/x/", status_info=raw)
    copied = status_dict(status)
    assert copied == raw and copied is not raw
