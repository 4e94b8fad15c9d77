"""The HTTP floor: a minimal WSGI app under the same gunicorn serving the same objects
from pages built once at start, so a full pull of it costs only HTTP, the client and
the bytes. ``INTELSHARE_FLOOR_OBJECTS`` names a file of the objects' JSON, one per line
(as the hub served them); ``next`` is the page number."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

TAXII = "application/taxii+json;version=2.1"
STAMP = "2026-01-01T00:00:00.000000Z"


def build(texts: list[bytes], page: int) -> list[bytes]:
    pages = []
    chunks = [texts[i : i + page] for i in range(0, len(texts), page)] or [[]]
    for n, chunk in enumerate(chunks):
        more = n + 1 < len(chunks)
        head = b'{"more":true,"next":"%d",' % (n + 1) if more else b'{"more":false,'
        pages.append(head + b'"objects":[' + b",".join(chunk) + b"]}")
    return pages


def _load() -> list[bytes]:
    path = os.environ.get("INTELSHARE_FLOOR_OBJECTS")
    if not path:
        return build([], 1)
    texts = [line for line in Path(path).read_bytes().splitlines() if line]
    return build(texts, int(os.environ.get("INTELSHARE_FLOOR_PAGE", "1000")))


PAGES = _load()
HEADERS = [
    ("Content-Type", TAXII),
    ("X-TAXII-Date-Added-First", STAMP),
    ("X-TAXII-Date-Added-Last", STAMP),
]


def application(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    if not environ.get("PATH_INFO", "").endswith("/objects/"):
        body = b'{"title":"floor"}'
    else:
        token = parse_qs(environ.get("QUERY_STRING", "")).get("next", ["0"])[0]
        number = int(token) if token.isdigit() else -1
        if not 0 <= number < len(PAGES):
            start_response("400 Bad Request", [("Content-Type", TAXII)])
            return [b'{"title":"bad next"}']
        body = PAGES[number]
    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(body)))])
    return [body]
