"""Request ids and Prometheus metrics: per-process counters (summed across gunicorn
workers through ``PROMETHEUS_MULTIPROC_DIR``) and gauges read at scrape time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from intelshare import signals
from intelshare.logs import REQUEST_ID_HEADER, request_id, sane_request_id
from intelshare.models import Collection, Status

logger = logging.getLogger(__name__)

# Multiprocess mode (gunicorn): every process writes its counters under this folder.
_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _MULTIPROC_DIR:
    Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# --- metrics: per process ---------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "intelshare_http_requests",
    "HTTP requests by endpoint and status.",
    ["endpoint", "method", "status"],
)
HTTP_DURATION = Histogram(
    "intelshare_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
VERSIONS_SERVED = Counter(
    "intelshare_versions_served",
    "Object versions served to TAXII readers (audit events).",
    ["endpoint"],
)
OBJECTS_INGESTED = Counter(
    "intelshare_ingest_objects",
    "Objects through ingest.store: stored, duplicate or failed.",
    ["result"],
)


def _endpoint(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.view_name:
        return "unmatched"
    return "admin" if match.view_name.startswith("admin:") else match.view_name


class RequestMiddleware:
    """Request id in, request id out, and the request counted and timed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = sane_request_id(request.headers.get(REQUEST_ID_HEADER, ""))
        # Cleared on request_finished: Django logs a 4xx/5xx after the middleware returns.
        request_id.set(rid)
        request.request_id = rid  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = _endpoint(request)
        HTTP_REQUESTS.labels(endpoint, request.method or "", str(response.status_code)).inc()
        HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        response[REQUEST_ID_HEADER] = rid
        return response


def count_served(
    sender: Any, *, method: str, endpoint: str, status_code: int, count: int, **kwargs: Any
) -> None:
    """Receiver of ``signals.request_audited``: a successful read counts the versions
    it served."""
    if method == "GET" and 200 <= status_code < 300:
        VERSIONS_SERVED.labels(endpoint).inc(count)


def count_ingested(
    sender: Any, *, new: int = 0, duplicate: int = 0, failed: int = 0, **kwargs: Any
) -> None:
    """Receiver of ``signals.objects_ingested`` (sent by ``ingest.store``)."""
    for result, n in (("stored", new), ("duplicate", duplicate), ("failed", failed)):
        if n:
            OBJECTS_INGESTED.labels(result).inc(n)


def _request_done(**kwargs: Any) -> None:
    """The response is closed (after Django's own request logging): forget the id."""
    request_id.set("-")


def connect() -> None:
    """Wire the receivers once (idempotent; called when this module is imported)."""
    signals.request_audited.connect(count_served, dispatch_uid="observability.served")
    request_finished.connect(_request_done, dispatch_uid="observability.request_done")
    signals.objects_ingested.connect(count_ingested, dispatch_uid="observability.ingested")


# --- metrics: from the database, at scrape time -----------------------------------------


def _queue_depth() -> Iterator[tuple[str, int]]:
    """Messages waiting in the Celery broker's default queue (Redis or filesystem)."""
    from celery import current_app as app

    conf = app.conf
    url = conf.broker_url or ""
    queue = conf.task_default_queue or "celery"
    if url.startswith("filesystem://"):
        folder = (conf.broker_transport_options or {}).get("data_folder_in")
        if folder:
            yield queue, sum(1 for p in Path(folder).iterdir() if p.is_file())
    elif url.startswith(("redis://", "rediss://")):
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            yield queue, int(conn.default_channel.client.llen(queue))


# A count reads every index entry of its collection (25-50 ms per 100,000 versions
# here, one GROUP BY no faster), so scrapes share one count per VERSIONS_TTL seconds.
VERSIONS_TTL = 30
VERSIONS_KEY = "metrics:versions-stored"


def _versions_stored() -> list[list[Any]]:
    counts: list[list[Any]] | None = cache.get(VERSIONS_KEY)
    if counts is None:
        from intelshare import policy

        counts = [
            [str(collection), policy.catalogue(collection=collection).count()]
            for collection in Collection.objects.only("pk", "alias", "title")
        ]
        cache.set(VERSIONS_KEY, counts, VERSIONS_TTL)
    return counts


class DatabaseCollector(Collector):
    """Gauges read from the database (and the broker) when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        yield from self._versions()
        yield from self._statuses()
        yield from self._queue()

    def _versions(self) -> Iterator[Metric]:
        stored = GaugeMetricFamily(
            "intelshare_versions_stored",
            "Object versions stored, by collection.",
            labels=["collection"],
        )
        for label, count in _versions_stored():
            stored.add_metric([label], count)
        yield stored

    def _statuses(self) -> Iterator[Metric]:
        pending = Status.objects.filter(status=Status.PENDING).count()
        yield GaugeMetricFamily(
            "intelshare_statuses_pending",
            "TAXII POST envelopes accepted and not yet processed.",
            value=pending,
        )

    def _queue(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "intelshare_queue_depth", "Messages waiting in the Celery broker.", labels=["queue"]
        )
        try:
            for queue, n in _queue_depth():
                depth.add_metric([queue], n)
        except Exception as exc:  # the broker being down must not break the scrape
            logger.warning("metrics: queue depth unavailable: %s", type(exc).__name__)
        yield depth


_database = CollectorRegistry(auto_describe=False)
_database.register(DatabaseCollector())


def register_collector(collector: Collector) -> None:
    """Add gauges read at scrape time (another app's, e.g. the sync feeds)."""
    _database.register(collector)


def render_metrics() -> bytes:
    """The Prometheus text exposition of every metric."""
    if _MULTIPROC_DIR:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_database)


connect()
