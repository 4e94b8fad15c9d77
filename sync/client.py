"""The hub's TAXII client for partner servers: the only module importing taxii2client.

taxii2-client 2.3 speaks TAXII 2.0 and 2.1 but lacks what unattended sync needs
(STYLE.md §10). This wrapper adds:

- a (connect, read) timeout on every request, through an adapter on the session,
  and a whole-request deadline: requests' read timeout bounds each wait for a
  byte, so a partner trickling one byte a second would otherwise hold a run
  for as long as it likes; the adapter reads the whole body under a watchdog
  that shuts the socket when the deadline passes (``Timeout.total``);
- the ``X-TAXII-Date-Added-First/Last`` headers (TAXII 2.1 §3.2), which
  taxii2client drops because it returns bare dicts: a response hook keeps the
  last response of the session;
- one ``requests.Session`` for every request of a client, shared by the
  ``Collection``/``ApiRoot``/``Status`` objects built directly with ``conn=``
  (``Server`` would drop a passed connection and open its own);
- ``pages()``, which follows ``next`` and otherwise falls back to
  ``added_after`` from ``X-TAXII-Date-Added-Last`` (§3.5), with a loop guard.
  taxii2client's ``as_pages`` is not used: it sends ``next=""`` when the
  server gives none, which is dropped, so it re-requests the first page
  forever. Pages are fetched with ``Collection.get_objects`` and explicit
  ``limit``/``added_after``/``next`` kwargs, and ``version="all"``
  (``match[version]=all``) on every request: without it a server answers
  only the latest version of each object (TAXII 2.1 §3.4.1, 2.0 alike);
- auth (Basic, bearer, custom header), client certificates, ``verify`` on;
- a small error hierarchy: ``RemoteUnavailable`` (transient, retry),
  ``RemoteRejected`` (permanent 4xx), ``RemoteProtocolError`` (not TAXII).

A client is one feed run on one thread; it is not thread-safe.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth
import urllib3.connection
import urllib3.connectionpool
from taxii2client import v20, v21
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import (
    AccessError,
    InvalidJSONError,
    TAXIIServiceException,
    ValidationError,
)

from intelshare.taxii20 import convert

logger = logging.getLogger(__name__)

TaxiiVersion = Literal["2.0", "2.1"]
USER_AGENT = "intelshare-sync/0.1 taxii2-client/2.3"
_ERROR_TEXT_MAX = 200
_ONE_MICROSECOND = timedelta(microseconds=1)
# taxii2client turns this kwarg into match[version]=all. Sent with every page,
# next-token follow-ups included: a token belongs to its query's options (§3.5),
# and medallion refuses one whose options changed (HTTP 400).
_EVERY_VERSION: dict[str, Any] = {"version": "all"}


# --- errors -----------------------------------------------------------------


class RemoteError(Exception):
    """Base of every failure talking to a partner's TAXII server."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class RemoteUnavailable(RemoteError):
    """Transient: connection refused/reset, timeout, 408, 429 or 5xx. Retry later.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.retry_after = retry_after


class RemoteRejected(RemoteError):
    """Permanent: 401, 403, 404, 413 or another 4xx. Retrying will not help."""

    def __init__(self, message: str, *, status_code: int, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code


class RemoteProtocolError(RemoteError):
    """The answer is not TAXII: not HTTP, not JSON, wrong media type or shape,
    or pagination that does not progress."""


# --- configuration ----------------------------------------------------------


@dataclass(frozen=True)
class Timeout:
    """Seconds to wait to connect, between bytes of a response (requests' rule),
    and for a whole request, from sending it to the last byte of its body
    (None: no overall bound)."""

    connect: float
    read: float
    total: float | None = None

    @classmethod
    def from_settings(cls) -> Timeout:
        """The hub's INTELSHARE_SYNC_CONNECT_TIMEOUT, _READ_TIMEOUT and _REQUEST_SECONDS."""
        from django.conf import settings

        return cls(
            connect=settings.INTELSHARE_SYNC_CONNECT_TIMEOUT,
            read=settings.INTELSHARE_SYNC_READ_TIMEOUT,
            total=settings.INTELSHARE_SYNC_REQUEST_SECONDS,
        )


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic (RFC 7617), which every TAXII 2.1 client must support (§8.5)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BearerAuth:
    """``Authorization: Bearer <token>``."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class HeaderAuth:
    """A custom header carrying a key, e.g. ``X-Api-Key``."""

    name: str
    value: str = field(repr=False)


Auth = BasicAuth | BearerAuth | HeaderAuth


@dataclass(frozen=True)
class ClientCert:
    """TLS client certificate (TAXII 2.1 §8.3.1); key inside ``cert_file`` if None."""

    cert_file: str
    key_file: str | None = None


# --- results ----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One non-empty page of Get Objects (TAXII 2.1 §5.4), every version.

    A page may hold several versions of one object, each where its own
    ``date_added`` puts it (§3.3). The dates are the §3.2 headers; None only
    when the server omits them. ``next`` is always None for TAXII 2.0. Store
    ``checkpoint``, not ``date_added_last``, as the feed's resume point.
    """

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    date_added_first: datetime | None
    date_added_last: datetime | None

    @property
    def checkpoint(self) -> datetime | None:
        """The ``added_after`` from which a later run resumes without a gap.

        ``date_added_last`` for the final page. One microsecond earlier while
        ``more`` is true: the next page may hold more versions with the same
        ``date_added`` (medallion stamps a whole POST with one), and
        ``added_after`` is strictly "after", so resuming re-reads those
        (idempotent) instead of skipping them. None: keep the old checkpoint.
        """
        if self.date_added_last is None or not self.more:
            return self.date_added_last
        return self.date_added_last - _ONE_MICROSECOND


@dataclass(frozen=True)
class ApiRootInfo:
    """The API Root resource (TAXII 2.1 §4.2.1)."""

    title: str
    description: str | None
    versions: tuple[str, ...]
    max_content_length: int


@dataclass(frozen=True)
class RemoteCollection:
    """One collection of a remote API root (TAXII 2.1 §5.2.1)."""

    id: str
    title: str
    alias: str | None
    can_read: bool
    can_write: bool


# --- timestamps and headers -------------------------------------------------

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def parse_timestamp(value: str) -> datetime:
    """Parse a TAXII timestamp (§2: RFC 3339, UTC, microseconds) exactly.

    Fewer than six fraction digits are padded; more are truncated, which can
    only move a checkpoint earlier (a re-fetch, never a skip). Raises
    ValueError on anything else.
    """
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"not a TAXII timestamp: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = UTC
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        zone = timezone(-offset if match.group(9) == "-" else offset)
    parsed = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    parsed = parsed.astimezone(UTC)
    return parsed


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ssssssZ`` (§2)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("TAXII timestamps need an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) as seconds: delay-seconds or an HTTP-date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # an HTTP-date is GMT by definition
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header_timestamp(response: requests.Response | None, name: str) -> datetime | None:
    raw = response.headers.get(name) if response is not None else None
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad {name} header {raw!r}") from exc


# --- session plumbing -------------------------------------------------------


class _Deadline:
    """A watchdog for the one request in flight on an adapter (a client is one run
    on one thread). ``start`` arms it; the connection that sends the request
    registers its socket; when the time is up the socket is shut down, so whatever
    read is blocked in it returns at once and the request fails.

    The socket itself is kept, not the connection: http.client lets go of it
    (``sock = None``) once a ``Connection: close`` response has begun, while the
    body is still being read from it."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        if self.seconds is None:
            return
        with self._lock:
            self.expired, self._sock = False, None
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._sock = None, None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is None:
            return
        # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would
        # drop its SSL object under the reading thread's feet. OSError: closed.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


def _watched(
    base: type[urllib3.connection.HTTPConnection], deadline: _Deadline
) -> type[urllib3.connection.HTTPConnection]:
    # A fresh connection connects inside request() (HTTP) or just before it (HTTPS,
    # to verify the peer); a kept-alive one arrives connected. Either way the
    # socket is registered before the request is sent.
    def connect(self: urllib3.connection.HTTPConnection) -> None:
        base.connect(self)
        deadline.attach(self.sock)

    def request(self: urllib3.connection.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        deadline.attach(self.sock)
        base.request(self, *args, **kwargs)

    return type(f"Watched{base.__name__}", (base,), {"connect": connect, "request": request})


class _ClientAdapter(requests.adapters.HTTPAdapter):
    """Sends every request with the client's timeout, TLS verification and cert.

    Set here, not on the Session: taxii2client passes no per-request values,
    and requests then lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
    ``Session.verify``, even ``False`` or a feed's pinned CA file. With the
    default ``verify=True`` those variables still choose the trust store.
    """

    def __init__(
        self,
        timeout: Timeout,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ) -> None:
        self._deadline = _Deadline(timeout.total)  # before init_poolmanager runs
        super().__init__()
        self._timeout = (timeout.connect, timeout.read)
        self._verify = verify
        self._cert = cert

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools: dict[str, type[urllib3.connectionpool.HTTPConnectionPool]] = {}
        for scheme, pool in (
            ("http", urllib3.connectionpool.HTTPConnectionPool),
            ("https", urllib3.connectionpool.HTTPSConnectionPool),
        ):
            connection = _watched(pool.ConnectionCls, self._deadline)
            pools[scheme] = type(f"Watched{pool.__name__}", (pool,), {"ConnectionCls": connection})
        self.poolmanager.pool_classes_by_scheme = pools

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self._deadline.start()
        try:
            response = super().send(
                request,
                stream=True,
                timeout=self._timeout if timeout is None else timeout,
                verify=verify if self._verify is True else self._verify,
                cert=self._cert,
                proxies=proxies,
            )
            if not stream:
                response.content  # noqa: B018 - the whole body, under the deadline
        except Exception as exc:
            if self._deadline.expired:
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {self._deadline.seconds} s", request=request
                ) from exc
            raise
        finally:
            self._deadline.stop()
        return response


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _HeaderAuth(requests.auth.AuthBase):
    def __init__(self, name: str, value: str) -> None:
        self._name, self._value = name, value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._name] = self._value
        return request


class _Session(requests.Session):
    """Remembers the last response and never forwards a custom key header to
    another host on redirect (requests strips only ``Authorization``)."""

    def __init__(self, strip_on_redirect: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.last_response: requests.Response | None = None
        self._strip_on_redirect = strip_on_redirect
        self.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)
        if self._strip_on_redirect and self.should_strip_auth(
            str(response.request.url), str(prepared_request.url)
        ):
            for name in self._strip_on_redirect:
                prepared_request.headers.pop(name, None)


def _cause_is_garbage(exc: BaseException) -> bool:
    """True when requests' ConnectionError wraps an unparsable status line.

    ``RemoteDisconnected`` (peer closed without answering) is a BadStatusLine
    too but means "unavailable", so it is excluded.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, http.client.HTTPException) and not isinstance(
            current, http.client.RemoteDisconnected
        ):
            return True
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return False


def _error_text(response: requests.Response) -> str:
    """A short description from a TAXII error body (§3.6.1), if there is one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    text = " - ".join(str(body[key]) for key in ("title", "description") if body.get(key))
    return text[:_ERROR_TEXT_MAX]


# --- the client -------------------------------------------------------------


class TaxiiClient:
    """One partner collection: ``{api_root_url}collections/{collection_id}/``.

    Read from TAXII 2.1 or 2.0; write (``add_objects``) to TAXII 2.1 only.
    Every method raises only ``RemoteError`` subclasses for remote trouble.
    """

    def __init__(
        self,
        api_root_url: str,
        collection_id: str,
        *,
        version: TaxiiVersion = "2.1",
        auth: Auth | None = None,
        timeout: Timeout | None = None,
        verify: bool | str = True,
        client_cert: ClientCert | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        parts = urlsplit(api_root_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) API root URL: {api_root_url!r}")
        if version not in ("2.0", "2.1"):
            raise ValueError(f"unsupported TAXII version {version!r}")
        self.api_root_url = api_root_url if api_root_url.endswith("/") else api_root_url + "/"
        self.collection_id = collection_id
        self.collection_url = f"{self.api_root_url}collections/{collection_id}/"
        self.version: TaxiiVersion = version
        self.timeout = timeout or Timeout.from_settings()

        strip = (auth.name,) if isinstance(auth, HeaderAuth) else ()
        self._session = _Session(strip_on_redirect=strip)
        self._session.auth = _requests_auth(auth)
        cert: str | tuple[str, str] | None = None
        if client_cert is not None:
            cert = client_cert.cert_file
            if client_cert.key_file:
                cert = (client_cert.cert_file, client_cert.key_file)
        adapter = _ClientAdapter(self.timeout, verify, cert)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

        # taxii2client's connection object is private but documented to hold
        # its requests.Session in `.session`; swap in ours so every endpoint
        # object built with conn= shares the timeout, auth and hooks above.
        self._conn = _HTTPConnection(user_agent=user_agent, version=version)
        self._conn.session.close()
        self._conn.session = self._session
        self._collection: v21.Collection | v20.Collection | None = None

    # -- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ------------------------------------------------------------

    def pages(self, added_after: datetime | None = None, limit: int = 100) -> Iterator[Page]:
        """Every object version added after ``added_after``, oldest first, page by page.

        TAXII 2.1 (§3.5): follow ``next`` with the original ``added_after``.
        When ``more`` is true without ``next`` (or a ``next`` is refused with
        400, e.g. expired), continue from ``X-TAXII-Date-Added-Last`` minus
        one microsecond: the spec says "= Last", but ``added_after`` is strict
        and would skip objects sharing that stamp beyond the page (digest A2);
        the overlap re-reads a few objects instead, which ingest ignores.
        TAXII 2.0: ``Range: items=a-b`` offsets over one ``added_after`` query.

        Stops at the first empty page or when ``more`` is false; empty pages
        are never yielded. Raises RemoteProtocolError after the last good page
        when the server makes no progress (no ``next`` and no later
        ``X-TAXII-Date-Added-Last``, the same page twice, dates going back),
        so it can never loop forever.
        """
        if limit <= 0:
            raise ValueError("limit must be a positive integer (TAXII 2.1 §3.4)")
        if added_after is not None:
            format_timestamp(added_after)  # reject naive datetimes before any I/O
        fetch = self._pages_v21 if self.version == "2.1" else self._pages_v20
        previous: Page | None = None
        for page in fetch(added_after, limit):
            self._check_progress(previous, page)
            yield page
            previous = page

    def _pages_v21(self, added_after: datetime | None, limit: int) -> Iterator[Page]:
        cursor, token = added_after, None
        # date_added_last of the last page yielded, and whether the request in
        # flight re-reads from just before it (fallback or token restart).
        last: datetime | None = None
        overlapping = False
        while True:
            try:
                page = self._get_page_v21(cursor, limit, token)
            except RemoteRejected as exc:
                if exc.status_code != 400 or token is None or last is None:
                    raise
                # medallion forgets a next token 30 s after the query began,
                # our hub after INTELSHARE_NEXT_MAX_AGE: re-query instead of failing.
                logger.warning(
                    "collection %s: next token refused (HTTP 400); re-querying from date_added %s",
                    self.collection_id,
                    format_timestamp(last),
                )
                cursor, token, overlapping = last - _ONE_MICROSECOND, None, True
                continue
            if not page.objects:
                return
            if overlapping and last is not None and not _later(page, last):
                raise RemoteProtocolError(
                    "no progress: more=true without a usable next, and the "
                    f"server cannot page past date_added {format_timestamp(last)}",
                    url=self.collection_url,
                )
            yield page
            if not page.more:
                return
            last = page.date_added_last or last
            if page.next:
                token, overlapping = page.next, False
                continue
            if last is None:
                raise RemoteProtocolError(
                    "no progress: more=true without next or X-TAXII-Date-Added-Last",
                    url=self.collection_url,
                )
            logger.info(
                "collection %s: more without next; continuing from date_added_last",
                self.collection_id,
            )
            cursor, token, overlapping = last - _ONE_MICROSECOND, None, True

    def _get_page_v21(self, added_after: datetime | None, limit: int, token: str | None) -> Page:
        kwargs: dict[str, Any] = {"limit": limit, **_EVERY_VERSION}
        if added_after is not None:
            kwargs["added_after"] = format_timestamp(added_after)
        if token is not None:
            kwargs["next"] = token
        with self._translate_errors():
            body = self._collection_endpoint().get_objects(**kwargs)
        response = self._session.last_response
        if not isinstance(body, dict):
            raise RemoteProtocolError("envelope is not a JSON object", url=self.collection_url)
        objects = self._objects_of(body)
        more = body.get("more", False)
        next_token = body.get("next")
        if not isinstance(more, bool) or not (next_token is None or isinstance(next_token, str)):
            raise RemoteProtocolError("envelope more/next malformed", url=self.collection_url)
        page = Page(
            objects=objects,
            more=more,
            next=next_token or None,
            date_added_first=_header_timestamp(response, "X-TAXII-Date-Added-First"),
            date_added_last=_header_timestamp(response, "X-TAXII-Date-Added-Last"),
        )
        logger.debug(
            "collection %s: page of %d objects, more=%s, next=%s",
            self.collection_id,
            len(objects),
            more,
            bool(page.next),
        )
        return page

    def _pages_v20(self, added_after: datetime | None, limit: int) -> Iterator[Page]:
        start = 0
        while True:
            page, end, total = self._get_page_v20(added_after, start, limit)
            if end is None and not page.objects:
                return
            if page.objects:
                yield page
            # The served range, not the object count, says where the next page starts:
            # a server may serve fewer objects than items (the hub's 2.0 face leaves
            # out what STIX 2.0 cannot express).
            start = end + 1 if end is not None else start + len(page.objects)
            if not page.more or (total is not None and start >= total):
                return

    def _get_page_v20(
        self, added_after: datetime | None, start: int, limit: int
    ) -> tuple[Page, int | None, int | None]:
        """One page, the last item of the range served (``None`` if not said) and the
        total (``None`` if unknown). STIX 2.0 objects come back as STIX 2.1
        (``convert.up``), so ingest judges them like any other."""
        kwargs: dict[str, Any] = {**_EVERY_VERSION}
        if added_after is not None:
            kwargs["added_after"] = format_timestamp(added_after)
        with self._translate_errors():
            # With a Range header taxii2client returns the raw Response (2.0 only).
            response = self._collection_endpoint().get_objects(
                start=start, per_request=limit, **kwargs
            )
            body = response.json() if isinstance(response, requests.Response) else response
        if not isinstance(body, dict):
            raise RemoteProtocolError("bundle is not a JSON object", url=self.collection_url)
        objects = [convert.up(obj) for obj in self._objects_of(body)]
        last_response = self._session.last_response
        total: int | None = None
        end: int | None = None
        more = False
        content_range = last_response.headers.get("Content-Range") if last_response else None
        if content_range:
            match = re.match(r"^items\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$", content_range.strip())
            if match is None:
                raise RemoteProtocolError(
                    f"bad Content-Range {content_range!r}", url=self.collection_url
                )
            if match.group(2) is not None:
                end = int(match.group(2))
                if int(match.group(1)) != start or end < start:
                    raise RemoteProtocolError(
                        f"Content-Range {content_range!r} is not the range asked for",
                        url=self.collection_url,
                    )
            if match.group(3) != "*":
                total = int(match.group(3))
            served = end + 1 if end is not None else start + len(objects)
            more = served < total if total is not None else served > start
        page = Page(
            objects=objects,
            more=more,
            next=None,
            date_added_first=_header_timestamp(last_response, "X-TAXII-Date-Added-First"),
            date_added_last=_header_timestamp(last_response, "X-TAXII-Date-Added-Last"),
        )
        return page, end, total

    def _objects_of(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        objects = body.get("objects", [])
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise RemoteProtocolError("objects is not a list of objects", url=self.collection_url)
        return objects

    def _check_progress(self, previous: Page | None, page: Page) -> None:
        """The loop guard: a server must move forward through date_added (§3.3)."""
        if previous is None:
            return
        if _fingerprint(previous) == _fingerprint(page):
            raise RemoteProtocolError(
                "server returned the same page twice; stopping instead of looping",
                url=self.collection_url,
            )
        if (
            previous.date_added_last is not None
            and page.date_added_first is not None
            and page.date_added_first < previous.date_added_last
        ):
            raise RemoteProtocolError(
                "pages went back in date_added (§3.3 sorts ascending); stopping",
                url=self.collection_url,
            )

    def api_root_info(self) -> ApiRootInfo:
        """Get API Root Information (TAXII 2.1 §4.2)."""
        api_root_class = v21.ApiRoot if self.version == "2.1" else v20.ApiRoot
        root = api_root_class(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            root.refresh_information()
        return ApiRootInfo(
            title=root.title,
            description=root.description,
            versions=tuple(root.versions),
            max_content_length=int(root.max_content_length),
        )

    # -- the operator console's connection test ----------------------------------

    def collections(self) -> list[RemoteCollection]:
        """Get Collections (TAXII 2.1 §5.1) of the API root, for picking a remote
        collection; an API root without collections answers an empty list."""
        api_root_class = v21.ApiRoot if self.version == "2.1" else v20.ApiRoot
        root = api_root_class(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            root.refresh_collections()
            found = list(root.collections)
        return [
            RemoteCollection(
                id=c.id,
                title=c.title,
                alias=getattr(c, "alias", None),
                can_read=bool(c.can_read),
                can_write=bool(c.can_write),
            )
            for c in found
        ]

    # -- writing (TAXII 2.1 only) --------------------------------------------

    def add_objects(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        """Add Objects (TAXII 2.1 §5.5): POST the envelope, return the status (§4.3.1).

        Does not wait; see ``wait_for_status``. The caller keeps the body under
        the API root's ``max_content_length`` (413 is a RemoteRejected).
        """
        collection = self._collection_endpoint()
        if not isinstance(collection, v21.Collection):
            raise NotImplementedError("pushing to TAXII 2.0 servers is not supported")
        with self._translate_errors():
            status = collection.add_objects(dict(envelope), wait_for_completion=False)
        return _status_dict(status)

    def delete_object(self, stix_id: str, versions: Sequence[str]) -> None:
        """Delete an Object (TAXII 2.1 §5.7): the given versions of ``stix_id``."""
        collection = self._collection_endpoint()
        if not isinstance(collection, v21.Collection):
            raise NotImplementedError("deleting on TAXII 2.0 servers is not supported")
        with self._translate_errors():
            collection.delete_object(stix_id, version=",".join(versions))

    def get_status(self, status_id: str) -> dict[str, Any]:
        """Get Status (TAXII 2.1 §4.3)."""
        if self.version != "2.1":
            raise NotImplementedError("status is only read from TAXII 2.1 servers")
        root = v21.ApiRoot(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            status = root.get_status(status_id)
        return _status_dict(status)

    def wait_for_status(
        self, status_id: str, *, timeout: float = 60.0, poll_interval: float = 1.0
    ) -> dict[str, Any]:
        """Poll Get Status until ``complete`` or ``timeout`` seconds pass.

        Returns the last status seen; a ``pending`` one means the timeout hit.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(status_id)
            remaining = deadline - time.monotonic()
            if status.get("status") == "complete" or remaining <= 0:
                return status
            time.sleep(min(poll_interval, remaining))

    # -- internals ----------------------------------------------------------

    def _collection_endpoint(self) -> v21.Collection | v20.Collection:
        if self._collection is None:
            collection_class = v21.Collection if self.version == "2.1" else v20.Collection
            self._collection = collection_class(self.collection_url, conn=self._conn)
        return self._collection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Map requests/taxii2client exceptions raised inside onto RemoteError."""
        self._session.last_response = None
        try:
            yield
        except RemoteError:
            raise
        except Exception as exc:
            error = _translate(exc, self._session.last_response, self.collection_url)
            if error is None:
                raise
            raise error from exc


def _translate(
    exc: Exception, response: requests.Response | None, default_url: str
) -> RemoteError | None:
    url = str(response.url) if response is not None else default_url
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _from_status(exc.response)
    if isinstance(exc, requests.exceptions.InvalidJSONError | InvalidJSONError):
        # requests' JSONDecodeError is a RequestException: check it first.
        return RemoteProtocolError("the answer is not JSON", url=url)
    if isinstance(exc, requests.Timeout):
        return RemoteUnavailable(f"timed out ({exc.__class__.__name__})", url=url)
    if isinstance(exc, requests.exceptions.SSLError):
        # Verification or handshake failure: usually configuration, sometimes
        # a partner mid-rotation; kept retryable and visible in Feed health.
        return RemoteUnavailable("TLS failed (certificate or handshake)", url=url)
    if isinstance(exc, requests.ConnectionError):
        if _cause_is_garbage(exc):
            return RemoteProtocolError("the answer is not HTTP", url=url)
        return RemoteUnavailable(f"connection failed ({exc.__class__.__name__})", url=url)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return RemoteUnavailable("connection broken mid-response", url=url)
    if isinstance(exc, requests.exceptions.ContentDecodingError | requests.TooManyRedirects):
        return RemoteProtocolError(str(exc)[:_ERROR_TEXT_MAX], url=url)
    if isinstance(exc, requests.RequestException):
        return RemoteUnavailable(f"request failed ({exc.__class__.__name__})", url=url)
    if isinstance(exc, AccessError):
        return RemoteRejected(
            "the collection does not grant this operation (can_read/can_write)",
            status_code=403,
            url=url,
        )
    if isinstance(exc, ValidationError | TAXIIServiceException):
        return RemoteProtocolError(str(exc).splitlines()[0][:_ERROR_TEXT_MAX], url=url)
    if isinstance(exc, KeyError | TypeError | ValueError) and response is not None:
        # taxii2client reads headers["Content-Type"] unchecked and spreads
        # response bodies as **kwargs: a missing header or a JSON array
        # surfaces as one of these. Only mapped once a response has arrived.
        return RemoteProtocolError(f"malformed response ({exc.__class__.__name__})", url=url)
    return None


def _from_status(response: requests.Response) -> RemoteError:
    code = response.status_code
    url = str(response.url)
    text = _error_text(response)
    message = f"HTTP {code}" + (f": {text}" if text else "")
    if code in (408, 429) or code >= 500:
        return RemoteUnavailable(
            message,
            url=url,
            status_code=code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if 400 <= code < 500:
        return RemoteRejected(message, status_code=code, url=url)
    return RemoteProtocolError(message, url=url)


def _requests_auth(auth: Auth | None) -> requests.auth.AuthBase | None:
    if auth is None:
        return None
    if isinstance(auth, BasicAuth):
        return requests.auth.HTTPBasicAuth(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return _BearerAuth(auth.token)
    return _HeaderAuth(auth.name, auth.value)


def _status_dict(status: v21.Status) -> dict[str, Any]:
    # Status keeps the parsed JSON it validated in `_raw`; a copy keeps
    # callers from mutating taxii2client's object.
    raw: dict[str, Any] = json.loads(json.dumps(status._raw))
    return raw


def _later(page: Page, than: datetime) -> bool:
    return page.date_added_last is not None and page.date_added_last > than


def _fingerprint(page: Page) -> tuple[object, ...]:
    # (id, version), not the id alone: consecutive pages may start or end with
    # versions of one object, and must not read as the same page twice.
    def key(obj: Mapping[str, Any]) -> tuple[object, object]:
        return (obj.get("id"), obj.get("modified", obj.get("created")))

    return (
        len(page.objects),
        key(page.objects[0]),
        key(page.objects[-1]),
        page.date_added_first,
        page.date_added_last,
    )
