"""Error pages: TAXII 2.1 error messages (§3.6.1) under ``/taxii2/``, JSON for API
clients under ``/api/v1/``, an HTML page for everything a browser opens."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from intelshare.taxii.errors import Forbidden, InternalError, NotFound, render_error

logger = logging.getLogger(__name__)

TAXII_PREFIX = "/taxii2/"
API_PREFIX = "/api/v1/"

_PAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: (
        "Forbidden",
        "Your account may not open this page. Ask a hub administrator "
        "for the permission, or sign in with another account.",
    ),
    404: ("Page not found", "There is nothing at this address."),
    500: (
        "Server error",
        "Something went wrong on the hub; the error is logged. Try again in a moment.",
    ),
}


def _wants_html(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept or "application/xhtml+xml" in accept


def _html(request: HttpRequest, status: int) -> HttpResponse:
    title, text = _PAGES[status]
    # No request context processors: the 500 page must render whatever failed.
    body = loader.render_to_string(
        "console/error.html",
        {
            "status": status,
            "title": title,
            "text": text,
            "path": request.path,
            "signed_in": status != 500
            and getattr(request, "user", None) is not None
            and request.user.is_authenticated,
        },
    )
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def _answer(
    request: HttpRequest, status: int, taxii: type[Exception], description: str
) -> HttpResponse:
    if request.path.startswith(TAXII_PREFIX):
        return render_error(taxii(description))  # type: ignore[arg-type]
    if request.path.startswith(API_PREFIX) and not _wants_html(request):
        return JsonResponse({"detail": description}, status=status)
    return _html(request, status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown URLs: a TAXII error message under /taxii2/, else a page."""
    return _answer(request, 404, NotFound, "no such resource")


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _answer(request, 403, Forbidden, "not permitted")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(TAXII_PREFIX):
        from intelshare.taxii.errors import BadRequest

        return render_error(BadRequest("bad request"))
    if request.path.startswith(API_PREFIX) and not _wants_html(request):
        return JsonResponse({"detail": "bad request"}, status=400)
    return _html(request, 400)


def server_error(request: HttpRequest) -> HttpResponse:
    return _answer(request, 500, InternalError, "internal error")
