"""Operational endpoints: liveness and readiness (no authentication) and the
Prometheus metrics (a bearer token when ``INTELSHARE_METRICS_TOKEN`` is set)."""

from __future__ import annotations

import hmac
import logging

from celery import current_app as celery_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection
from prometheus_client import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the Celery broker are reachable (503 otherwise)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"
        logger.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        conf = celery_app.conf
        with Connection(
            conf.broker_url, transport_options=conf.broker_transport_options, connect_timeout=2
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel  # opening a channel talks to the broker
            if hasattr(channel, "client") and hasattr(channel.client, "ping"):
                channel.client.ping()
        checks["broker"] = "ok"
    except Exception as exc:
        logger.warning("readiness: broker check failed: %s", type(exc).__name__)
        checks["broker"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format (README "Production deployment" lists the metrics)."""
    from intelshare.observability import render_metrics

    expected = settings.INTELSHARE_METRICS_TOKEN
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            response = HttpResponse(
                "metrics need a bearer token\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
