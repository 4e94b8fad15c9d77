"""TAXII errors: raised anywhere, rendered once as a §3.6.1 error message."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf

from intelshare.models import TAXII_21

logger = logging.getLogger(__name__)

# Connection failures of Redis (CACHE_URL) and of the Celery broker (kombu).
_BACKEND_OUTAGES: tuple[type[Exception], ...] = (
    KombuOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)


class TaxiiError(Exception):
    """An error the client can act on; ``description`` is shown to it."""

    http_status = 400
    title = "Bad Request"

    def __init__(
        self,
        description: str,
        *,
        error_code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        self.details = details
        self.headers = headers or {}
        self.error_id = str(uuid.uuid4())


class BadRequest(TaxiiError):
    pass


class Unauthorized(TaxiiError):
    http_status, title = 401, "Unauthorized"


class Forbidden(TaxiiError):
    http_status, title = 403, "Forbidden"


class NotFound(TaxiiError):
    http_status, title = 404, "Not Found"


class MethodNotAllowed(TaxiiError):
    http_status, title = 405, "Method Not Allowed"


class NotAcceptable(TaxiiError):
    http_status, title = 406, "Not Acceptable"


class PayloadTooLarge(TaxiiError):
    http_status, title = 413, "Payload Too Large"


class UnsupportedMediaType(TaxiiError):
    http_status, title = 415, "Unsupported Media Type"


class Unprocessable(TaxiiError):
    http_status, title = 422, "Unprocessable Entity"


class TooManyRequests(TaxiiError):
    http_status, title = 429, "Too Many Requests"


class InternalError(TaxiiError):
    http_status, title = 500, "Internal Server Error"


class ServiceUnavailable(TaxiiError):
    http_status, title = 503, "Service Unavailable"


def taxii_response(
    body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Every TAXII response, errors included, is ``application/taxii+json;version=2.1``."""
    response = HttpResponse(body, status=status, content_type=TAXII_21)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def render_error(error: TaxiiError) -> HttpResponse:
    body: dict[str, Any] = {
        "title": error.title,
        "description": error.description,
        "error_id": error.error_id,
        "http_status": str(error.http_status),
    }
    if error.error_code:
        body["error_code"] = error.error_code
    if error.details:
        body["details"] = error.details
    return taxii_response(orjson.dumps(body), status=error.http_status, headers=error.headers)


def as_taxii_error(exc: Exception, request: HttpRequest | None = None) -> TaxiiError:
    """Map any exception raised while serving TAXII onto a ``TaxiiError``."""
    if isinstance(exc, TaxiiError):
        return exc
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Unauthorized(str(exc.detail), error_code="authentication-required")
    if isinstance(exc, drf.PermissionDenied):
        return Forbidden(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        return TooManyRequests(
            "request rate limit exceeded", headers={"Retry-After": str(max(wait, 1))}
        )
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, Http404 | drf.NotFound):
        return NotFound("the requested resource does not exist")
    if isinstance(exc, drf.ParseError):
        return BadRequest(str(exc.detail))
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return ServiceUnavailable(
            "the database is unavailable; try again shortly", headers={"Retry-After": "5"}
        )
    if isinstance(exc, _BACKEND_OUTAGES):
        # The cache (verified credentials, rate limits) or the broker is down:
        # a transient outage like the database's, not an internal error.
        logger.warning("cache or broker unavailable: %s", type(exc).__name__)
        return ServiceUnavailable(
            "a service the hub depends on is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )
    error = InternalError("internal error; quote the error_id to the hub's operators")
    logger.error("internal error %s", error.error_id, exc_info=exc)
    return error
