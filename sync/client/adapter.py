"""The two taxii2client internals the client relies on, in one place (taxii2-client
2.3): its private connection class, whose ``session`` attribute is swapped for ours
so every endpoint object shares timeouts, auth and hooks, and a ``Status``'s parsed
JSON (``_raw``). ``tests/sync/test_client_adapter.py`` fails when either changes."""

from __future__ import annotations

import json
from typing import Any

import requests
from taxii2client import v21
from taxii2client.common import _HTTPConnection


def connection(session: requests.Session, *, user_agent: str, version: str) -> _HTTPConnection:
    """A taxii2client connection that sends every request through ``session``."""
    conn = _HTTPConnection(user_agent=user_agent, version=version)
    conn.session.close()
    conn.session = session
    return conn


def status_dict(status: v21.Status) -> dict[str, Any]:
    # Status keeps the parsed JSON it validated in `_raw`; a copy keeps
    # callers from mutating taxii2client's object.
    raw: dict[str, Any] = json.loads(json.dumps(status._raw))
    return raw
