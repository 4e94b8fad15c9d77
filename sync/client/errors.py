"""What can go wrong talking to a partner's TAXII server, classified: transient
(retry), permanent (a 4xx) or not TAXII at all."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from taxii2client.exceptions import (
    AccessError,
    InvalidJSONError,
    TAXIIServiceException,
    ValidationError,
)

ERROR_TEXT_MAX = 200


class RemoteError(Exception):
    """Base of every failure talking to a partner's TAXII server."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class RemoteUnavailable(RemoteError):
    """Transient: connection refused/reset, timeout, 408, 429 or 5xx. Retry later."""

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


def _cause_is_garbage(exc: BaseException) -> bool:
    """True when requests' ConnectionError wraps an unparsable status line."""
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
    return text[:ERROR_TEXT_MAX]


def translate(
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
        return RemoteProtocolError(str(exc)[:ERROR_TEXT_MAX], url=url)
    if isinstance(exc, requests.RequestException):
        return RemoteUnavailable(f"request failed ({exc.__class__.__name__})", url=url)
    if isinstance(exc, AccessError):
        return RemoteRejected(
            "the collection does not grant this operation (can_read/can_write)",
            status_code=403,
            url=url,
        )
    if isinstance(exc, ValidationError | TAXIIServiceException):
        return RemoteProtocolError(str(exc).splitlines()[0][:ERROR_TEXT_MAX], url=url)
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
