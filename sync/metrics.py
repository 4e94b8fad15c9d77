"""Prometheus gauges of the partner feeds, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync.models import Feed, Quarantine, SyncRun


class FeedCollector(Collector):
    """Lag, failures, last success, runs and quarantine per feed."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        lag = GaugeMetricFamily(
            "intelshare_feed_lag_seconds",
            "Time since the last successful run (Feed.lag).",
            labels=["feed", "direction"],
        )
        failures = GaugeMetricFamily(
            "intelshare_feed_consecutive_failures",
            "Failed runs since the last success.",
            labels=["feed"],
        )
        success = GaugeMetricFamily(
            "intelshare_feed_last_success_timestamp_seconds",
            "Unix time of the last successful run.",
            labels=["feed"],
        )
        enabled = GaugeMetricFamily(
            "intelshare_feed_enabled", "1 when dispatched, 0 paused.", labels=["feed"]
        )
        for feed in Feed.objects.all():
            seconds = feed.lag(now)
            if seconds is not None:
                lag.add_metric([feed.name, feed.direction], seconds.total_seconds())
            failures.add_metric([feed.name], feed.consecutive_failures)
            if feed.last_success is not None:
                success.add_metric([feed.name], feed.last_success.timestamp())
            enabled.add_metric([feed.name], 1 if feed.enabled else 0)
        yield from (lag, failures, success, enabled)
        runs = GaugeMetricFamily(
            "intelshare_sync_runs",
            "Sync runs kept, by feed and outcome.",
            labels=["feed", "outcome"],
        )
        for row in SyncRun.objects.values("feed__name", "outcome").annotate(n=Count("id")):
            runs.add_metric([row["feed__name"], row["outcome"]], row["n"])
        yield runs
        held = GaugeMetricFamily(
            "intelshare_quarantine_items",
            "Quarantined inbound objects, by feed and state.",
            labels=["feed", "state"],
        )
        for item in Quarantine.objects.values("feed__name", "state").annotate(n=Count("id")):
            held.add_metric([item["feed__name"], item["state"]], item["n"])
        yield held
