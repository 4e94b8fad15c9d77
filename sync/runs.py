"""The run lifecycle of pull and push: the feed's lease, a run's beginning and end,
and the backoff after failures."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sync.client import RemoteUnavailable
from sync.models import Feed, SyncRun

logger = logging.getLogger(__name__)

ERROR_MAX = 2000
TRANSIENT_BASE, TRANSIENT_CAP = 30.0, 3600.0
PERMANENT_BASE, PERMANENT_CAP = 300.0, 86400.0
RETRY_AFTER_CAP = 86400.0
# A Celery retry is due at next_attempt; the dispatcher waits this much longer
# so that it does not enqueue a second message beside the retry.
RETRY_GRACE = timedelta(seconds=60)


class LeaseLost(Exception):
    """Another run took the feed over; this run must stop writing."""


@dataclass(frozen=True)
class RunResult:
    """What a run came to: ``run`` is None when another run holds the feed;
    ``retry_in`` (seconds) is set after a transient failure."""

    run: SyncRun | None
    retry_in: float | None = None


# --- the lease -----------------------------------------------------------------------


def new_owner(task_id: str | None = None, *, via: str = "cli") -> str:
    """A lease owner: ``<task id>/<nonce>``; one per execution of a task."""
    return f"{task_id or f'{via}:{uuid.uuid4()}'}/{uuid.uuid4().hex[:12]}"


def _lease_seconds() -> timedelta:
    return timedelta(seconds=settings.INTELSHARE_SYNC_LEASE_SECONDS)


def lease_take(*, feed_id: int, owner: str, now: datetime) -> bool:
    """Take the feed if no live run holds it (or a dead delivery of the same task)."""
    task = owner.split("/", 1)[0]
    free = (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner__startswith=f"{task}/")
    )
    taken = Feed.objects.filter(free, pk=feed_id).update(
        lease_until=now + _lease_seconds(), lease_owner=owner
    )
    return taken == 1


def lease_keep(*, feed_id: int, owner: str, **changes: Any) -> None:
    """Renew the lease and apply ``changes`` to the feed, only while ``owner``
    holds it; raises LeaseLost otherwise (inside a transaction: rolls it back)."""
    kept = Feed.objects.filter(pk=feed_id, lease_owner=owner).update(
        lease_until=timezone.now() + _lease_seconds(), **changes
    )
    if kept != 1:
        raise LeaseLost(f"feed {feed_id}: lease taken over")


def _release(feed_id: int, owner: str, **changes: Any) -> int:
    return Feed.objects.filter(pk=feed_id, lease_owner=owner).update(
        lease_until=None, lease_owner="", **changes
    )


# --- backoff -------------------------------------------------------------------------


def backoff(
    failures: int,
    *,
    transient: bool,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: exponential,
    capped, with jitter (half fixed, half random); never less than the server's
    ``Retry-After`` (RFC 9110 §10.2.3), itself capped at a day."""
    base, cap = (TRANSIENT_BASE, TRANSIENT_CAP) if transient else (PERMANENT_BASE, PERMANENT_CAP)
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    delay = ceiling * (0.5 + rand() / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


# --- runs ----------------------------------------------------------------------------


def run_begin(*, feed_id: int, owner: str, direction: str) -> tuple[Feed, SyncRun] | None:
    """Take the lease and open a SyncRun; None if the feed is busy, gone, paused
    (for tasks) or of the other direction."""
    now = timezone.now()
    feed = Feed.objects.filter(pk=feed_id).only("direction").first()
    if feed is None or feed.direction != direction:
        logger.warning("feed %s: no %s feed with this id; skipped", feed_id, direction)
        return None
    if not lease_take(feed_id=feed_id, owner=owner, now=now):
        logger.info("feed %s already running; skipped", feed_id)
        return None
    feed = Feed.objects.select_related("partner", "collection").get(pk=feed_id)
    # Runs left "running" belong to executions that lost the lease (worker died).
    SyncRun.objects.filter(feed=feed, outcome=SyncRun.RUNNING).update(
        outcome=SyncRun.ABANDONED,
        finished=now,
        error="worker lost; the feed was taken over by a later run",
    )
    before = feed.checkpoint if direction == Feed.PULL else feed.push_cursor_date
    run = SyncRun.objects.create(
        feed=feed,
        direction=direction,
        task_id=owner.split("/")[0],
        started=now,
        checkpoint_before=before,
        checkpoint_after=before,
    )
    return feed, run


def run_succeed(feed: Feed, run: SyncRun, owner: str, *, more: bool = False) -> RunResult:
    """Close a run that worked; ``more``: stopped at its time budget, due again now."""
    now = timezone.now()
    next_attempt = now if more else max(now, run.started + feed.interval)
    with transaction.atomic():
        _release(
            feed.pk, owner, last_success=now, consecutive_failures=0, next_attempt=next_attempt
        )
        SyncRun.objects.filter(pk=run.pk).update(
            outcome=SyncRun.PARTIAL if more else SyncRun.SUCCESS, finished=now
        )
    run.refresh_from_db()
    logger.info("feed %s run %s: %s", feed.pk, run.pk, run.outcome)
    return RunResult(run)


def run_fail(feed: Feed, run: SyncRun, owner: str, exc: BaseException) -> RunResult:
    """Record a failed run and back the feed off; transient failures (connection,
    timeout, 408/429/5xx) come back with the delay for a Celery retry."""
    now = timezone.now()
    transient = isinstance(exc, RemoteUnavailable)
    failures = feed.consecutive_failures + 1
    retry_after = exc.retry_after if isinstance(exc, RemoteUnavailable) else None
    delay = backoff(failures, transient=transient, retry_after=retry_after)
    message = describe_error(exc)
    next_attempt = now + timedelta(seconds=delay) + (RETRY_GRACE if transient else timedelta(0))
    with transaction.atomic():
        _release(
            feed.pk,
            owner,
            last_error=message,
            last_error_at=now,
            consecutive_failures=F("consecutive_failures") + 1,
            next_attempt=next_attempt,
        )
        SyncRun.objects.filter(pk=run.pk).update(
            outcome=SyncRun.FAILED, finished=now, error=message
        )
    run.refresh_from_db()
    logger.warning(
        "feed %s run %s failed (%s, failure %d in a row); next attempt in %.0f s",
        feed.pk,
        run.pk,
        type(exc).__name__,
        failures,
        delay,
    )
    return RunResult(run, retry_in=delay if transient else None)


def run_lost(run: SyncRun) -> RunResult:
    """The lease went to another run: close this one, leave the feed to the other."""
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.ABANDONED, finished=timezone.now(), error="lease taken over by another run"
    )
    run.refresh_from_db()
    return RunResult(run)


def describe_error(exc: BaseException) -> str:
    """A one-line error for Feed/SyncRun (no credentials: URLs carry none)."""
    url = getattr(exc, "url", None)
    code = getattr(exc, "status_code", None)
    name = type(exc).__name__ + (f" {code}" if code and f"HTTP {code}" not in str(exc) else "")
    text = f"{name}: {exc}" + (f" ({url})" if url else "")
    return text[:ERROR_MAX]
