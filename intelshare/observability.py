"""Request ids, structured logs and Prometheus metrics (README "Production deployment").

- Every request gets an id: the caller's ``X-Request-ID`` when it is a sane
  token, else a new one. It is echoed in the response's ``X-Request-ID`` and
  put on every log line of the request (a context variable read by a logging
  filter); a Celery task's lines carry its task id.
- ``JsonFormatter`` writes one JSON object per line when ``LOG_FORMAT=json``.
  Lines hold what the code logs (ids and counts, never bodies or secrets).
- Metrics: per-process counters (requests by endpoint and status, versions
  served, objects ingested), and gauges read from the database at scrape time
  (versions stored, feeds, quarantine, pending statuses, queue depth), which
  are right whichever process did the work. With gunicorn, set
  ``PROMETHEUS_MULTIPROC_DIR`` so that the counters of every worker are summed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.signals import request_finished
from django.db.models import Count
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from intelshare import signals
from intelshare.logs import REQUEST_ID_HEADER, request_id, sane_request_id
from intelshare.models import AuditEvent, Collection, Status

logger = logging.getLogger(__name__)

# Multiprocess mode (gunicorn): every process writes its counters under this folder.
_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _MULTIPROC_DIR:
    Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# --- metrics: per process ---------------------------------------------------------------

HTTP_REQUESTS = Counter("intelshare_http_requests", "HTTP requests by endpoint and status.",
                        ["endpoint", "method", "status"])
HTTP_DURATION = Histogram("intelshare_http_request_duration_seconds",
                          "Time to answer a request, by endpoint.", ["endpoint"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
VERSIONS_SERVED = Counter("intelshare_versions_served",
                          "Object versions served to TAXII readers (audit events).",
                          ["endpoint"])
OBJECTS_INGESTED = Counter("intelshare_ingest_objects",
                           "Objects through ingest.store: stored, duplicate or failed.",
                           ["result"])


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
        # Not reset on the way out: Django logs a 4xx/5xx ("django.request") after the
        # middleware chain has returned, and that line must carry the id too; it is
        # cleared when the response is closed (``request_finished``).
        request_id.set(rid)
        request.request_id = rid  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = _endpoint(request)
        HTTP_REQUESTS.labels(endpoint, request.method or "", str(response.status_code)).inc()
        HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        response[REQUEST_ID_HEADER] = rid
        return response


def count_served(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    """An audit event of a successful read counts the versions it served."""
    if created and instance.method == "GET" and 200 <= instance.status_code < 300:
        VERSIONS_SERVED.labels(instance.endpoint).inc(len(instance.versions or ()))


def count_ingested(sender: Any, *, new: int = 0, duplicate: int = 0, failed: int = 0,
                   **kwargs: Any) -> None:
    """Receiver of ``signals.objects_ingested`` (sent by ``ingest.store``)."""
    for result, n in (("stored", new), ("duplicate", duplicate), ("failed", failed)):
        if n:
            OBJECTS_INGESTED.labels(result).inc(n)


def _request_done(**kwargs: Any) -> None:
    """The response is closed (after Django's own request logging): forget the id."""
    request_id.set("-")


def connect() -> None:
    """Wire the receivers once (idempotent; called when this module is imported)."""
    post_save.connect(count_served, sender=AuditEvent, dispatch_uid="observability.served")
    request_finished.connect(_request_done, dispatch_uid="observability.request_done")
    signals.objects_ingested.connect(count_ingested, dispatch_uid="observability.ingested")


# --- metrics: from the database, at scrape time -----------------------------------------


def _queue_depth() -> Iterator[tuple[str, int]]:
    """Messages waiting in the Celery broker's default queue (Redis or filesystem)."""
    from config.celery import app

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


class DatabaseCollector(Collector):
    """Gauges read from the database (and the broker) when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        yield from self._versions()
        yield from self._statuses()
        yield from self._queue()
        yield from self._feeds()

    def _versions(self) -> Iterator[Metric]:
        from intelshare import policy

        stored = GaugeMetricFamily("intelshare_versions_stored",
                                   "Object versions stored, by collection.", labels=["collection"])
        for collection in Collection.objects.only("pk", "alias", "title"):
            count = policy.staff_versions(collection=collection).versions.count()
            stored.add_metric([str(collection)], count)
        yield stored

    def _statuses(self) -> Iterator[Metric]:
        pending = Status.objects.filter(status=Status.PENDING).count()
        yield GaugeMetricFamily("intelshare_statuses_pending",
                                "TAXII POST envelopes accepted and not yet processed.",
                                value=pending)

    def _queue(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("intelshare_queue_depth",
                                  "Messages waiting in the Celery broker.", labels=["queue"])
        try:
            for queue, n in _queue_depth():
                depth.add_metric([queue], n)
        except Exception as exc:  # the broker being down must not break the scrape
            logger.warning("metrics: queue depth unavailable: %s", type(exc).__name__)
        yield depth

    def _feeds(self) -> Iterator[Metric]:
        try:
            from sync.models import Feed, Quarantine, SyncRun
        except ImportError:  # pragma: no cover - sync is an installed app
            return
        now = timezone.now()
        lag = GaugeMetricFamily("intelshare_feed_lag_seconds",
                                "Time since the last successful run (Feed.lag).",
                                labels=["feed", "direction"])
        failures = GaugeMetricFamily("intelshare_feed_consecutive_failures",
                                     "Failed runs since the last success.", labels=["feed"])
        success = GaugeMetricFamily("intelshare_feed_last_success_timestamp_seconds",
                                    "Unix time of the last successful run.", labels=["feed"])
        enabled = GaugeMetricFamily("intelshare_feed_enabled", "1 when dispatched, 0 paused.",
                                    labels=["feed"])
        for feed in Feed.objects.all():
            seconds = feed.lag(now)
            if seconds is not None:
                lag.add_metric([feed.name, feed.direction], seconds.total_seconds())
            failures.add_metric([feed.name], feed.consecutive_failures)
            if feed.last_success is not None:
                success.add_metric([feed.name], feed.last_success.timestamp())
            enabled.add_metric([feed.name], 1 if feed.enabled else 0)
        yield from (lag, failures, success, enabled)
        runs = GaugeMetricFamily("intelshare_sync_runs", "Sync runs kept, by feed and outcome.",
                                 labels=["feed", "outcome"])
        for row in SyncRun.objects.values("feed__name", "outcome").annotate(n=Count("id")):
            runs.add_metric([row["feed__name"], row["outcome"]], row["n"])
        yield runs
        held = GaugeMetricFamily("intelshare_quarantine_items",
                                 "Quarantined inbound objects, by feed and state.",
                                 labels=["feed", "state"])
        for row in Quarantine.objects.values("feed__name", "state").annotate(n=Count("id")):
            held.add_metric([row["feed__name"], row["state"]], row["n"])
        yield held


_database = CollectorRegistry(auto_describe=False)
_database.register(DatabaseCollector())


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
