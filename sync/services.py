"""Writes of the sync app: the run lifecycle of pull and push (lease, health,
backoff), the dispatcher, and the operations on feeds and quarantine.

A run holds its feed's lease (a conditional UPDATE), renewed in the transaction
of every page it commits, so two runs never both move a checkpoint; a redelivered
Celery message (same task id) takes over the lease of its dead first delivery.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from intelshare import ingest
from intelshare.models import User
from sync import crypto
from sync.client import (
    ApiRootInfo,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCert,
    HeaderAuth,
    RemoteCollection,
    RemoteError,
    RemoteUnavailable,
    TaxiiClient,
    Timeout,
)
from sync.models import Feed, Quarantine, SyncRun

logger = logging.getLogger(__name__)

ERROR_MAX = 2000
TRANSIENT_BASE, TRANSIENT_CAP = 30.0, 3600.0
PERMANENT_BASE, PERMANENT_CAP = 300.0, 86400.0
RETRY_AFTER_CAP = 86400.0
# A Celery retry is due at next_attempt; the dispatcher waits this much longer
# so that it does not enqueue a second message beside the retry.
RETRY_GRACE = timedelta(seconds=60)


class FeedBusy(Exception):
    """A run holds the feed; the operation would race with it."""


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


ClientFactory = Callable[[Feed], TaxiiClient]


def client_for(feed: Feed) -> TaxiiClient:
    """The TAXII client of a feed, with its decrypted credential."""
    auth: Auth | None = None
    if feed.auth_type == Feed.AUTH_BASIC:
        auth = BasicAuth(feed.username, feed.secret)
    elif feed.auth_type == Feed.AUTH_BEARER:
        auth = BearerAuth(feed.secret)
    elif feed.auth_type == Feed.AUTH_HEADER:
        auth = HeaderAuth(feed.header_name, feed.secret)
    cert = ClientCert(feed.client_cert, feed.client_key or None) if feed.client_cert else None
    verify: bool | str = feed.ca_bundle if feed.verify_tls and feed.ca_bundle else feed.verify_tls
    return TaxiiClient(
        feed.api_root_url,
        feed.remote_collection_id,
        version=feed.taxii_version,  # type: ignore[arg-type]
        auth=auth,
        timeout=Timeout.from_settings(),
        verify=verify,
        client_cert=cert,
    )


# --- scheduling ----------------------------------------------------------------------


PULL_TASK, PUSH_TASK = "sync.pull_feed", "sync.push_feed"


def _enqueue(feed_id: int, direction: str, expires: float) -> None:
    # By name: the task module imports this one, never the other way round.
    name = PULL_TASK if direction == Feed.PULL else PUSH_TASK
    current_app.send_task(name, args=[feed_id], expires=expires)


def _expires(feed: Feed) -> float:
    # A message older than one interval is superseded by the next dispatch.
    return max(60.0, feed.interval.total_seconds())


def dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Enqueue every enabled feed that is due and not running; returns their ids.

    A conditional UPDATE moves ``next_attempt`` one interval on, so overlapping
    dispatchers enqueue a feed once.
    """
    now = now or timezone.now()
    due = (
        Feed.objects.filter(enabled=True)
        .filter(Q(next_attempt__isnull=True) | Q(next_attempt__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .only("pk", "direction", "interval", "next_attempt")
    )
    sent = []
    with transaction.atomic():
        for feed in due:
            same = (
                Q(next_attempt__isnull=True)
                if feed.next_attempt is None
                else Q(next_attempt=feed.next_attempt)
            )
            if Feed.objects.filter(same, pk=feed.pk).update(next_attempt=now + feed.interval):
                transaction.on_commit(partial(_enqueue, feed.pk, feed.direction, _expires(feed)))
                sent.append(feed.pk)
    if sent:
        logger.info("dispatched %d due feeds", len(sent))
    return sent


# --- admin and CLI -------------------------------------------------------------------


def feed_create(*, secret: str = "", **fields: Any) -> Feed:
    """A new feed, validated; ``secret`` is encrypted before it is saved."""
    feed = Feed(**fields)
    feed.set_secret(secret)
    feed.full_clean()
    feed.save()
    return feed


def feed_set_secret(*, feed: Feed, secret: str) -> None:
    feed.set_secret(secret)
    Feed.objects.filter(pk=feed.pk).update(secret_encrypted=feed.secret_encrypted)


def feed_pause(*, feed: Feed) -> None:
    """Stop dispatching the feed (a running run finishes)."""
    Feed.objects.filter(pk=feed.pk).update(enabled=False)


def feed_resume(*, feed: Feed) -> None:
    """Dispatch the feed again, at the next dispatcher tick."""
    Feed.objects.filter(pk=feed.pk).update(enabled=True, next_attempt=None)


def feed_reset_position(*, feed: Feed) -> None:
    """Start the feed over at its next run: pull everything again (duplicates are
    ignored) or push everything again (a remote may report re-sent versions as
    failures). Refused while a run holds the feed, which would move it on."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if not Feed.objects.filter(free, pk=feed.pk).update(
        checkpoint=None, push_cursor_date=None, push_cursor_pk=None, push_inflight=None
    ):
        raise FeedBusy(f"{feed} is running; try again when it has finished")


def feed_run_now(*, feed: Feed) -> None:
    """Enqueue a run after the surrounding transaction commits."""
    Feed.objects.filter(pk=feed.pk).update(next_attempt=timezone.now() + feed.interval)
    transaction.on_commit(partial(_enqueue, feed.pk, feed.direction, _expires(feed)))


@dataclass(frozen=True)
class Probe:
    """What a feed's remote answered: its API root and collections, or the error."""

    ok: bool
    api_root: ApiRootInfo | None = None
    collections: tuple[RemoteCollection, ...] = ()
    error: str = ""


def feed_probe(*, feed: Feed) -> Probe:
    """Test a feed's connection with its own credential: API root information
    (TAXII 2.1 §4.2) and the collection list (§5.1). Nothing is stored."""
    client = client_for(feed)
    try:
        info = client.api_root_info()
        found = tuple(client.collections())
    except RemoteError as exc:
        return Probe(ok=False, error=describe_error(exc))
    except ValueError as exc:  # a URL the client refuses
        return Probe(ok=False, error=str(exc))
    finally:
        client.close()
    return Probe(ok=True, api_root=info, collections=found)


def feed_set_remote_collection(*, feed: Feed, collection_id: str) -> None:
    """Point the feed at another remote collection (picked from ``feed_probe``);
    the position starts over, as it belonged to the old collection."""
    feed.remote_collection_id = collection_id
    feed.full_clean()
    Feed.objects.filter(pk=feed.pk).update(
        remote_collection_id=collection_id,
        checkpoint=None,
        push_cursor_date=None,
        push_cursor_pk=None,
        push_inflight=None,
    )


def feed_secrets_rotate() -> int:
    """Re-encrypt every stored credential with the first key; returns how many."""
    done = 0
    with transaction.atomic():
        for feed in Feed.objects.exclude(secret_encrypted="").select_for_update():
            Feed.objects.filter(pk=feed.pk).update(
                secret_encrypted=crypto.rotate_token(feed.secret_encrypted)
            )
            done += 1
    logger.info("re-encrypted %d feed credentials with the first key", done)
    return done


def quarantine_release(*, item: Quarantine, by: User | None = None) -> ingest.Outcome:
    """Store a quarantined object through ``ingest`` as its feed partner's contribution,
    if it now passes validation; otherwise it stays pending with the new reason.
    """
    feed = item.feed
    try:
        obj = orjson.loads(item.raw)
    except orjson.JSONDecodeError as exc:
        outcome = ingest.Outcome(item.stix_id, item.version, ok=False, message=f"not JSON: {exc}")
    else:
        with transaction.atomic():
            result = ingest.store(
                collection=feed.collection,
                objects=[obj],
                source_partner=feed.partner,
                default_tlp=feed.default_tlp,
                origin=f"feed:{feed.pk}/quarantine:{item.pk}",
            )
            outcome = result.outcomes[0]
            if outcome.ok:
                Quarantine.objects.filter(pk=item.pk).update(
                    state=Quarantine.RELEASED, decided_at=timezone.now(), decided_by=by
                )
    if not outcome.ok:
        Quarantine.objects.filter(pk=item.pk).update(reason=outcome.message)
    item.refresh_from_db()
    return outcome


def quarantine_discard(*, item: Quarantine, by: User | None = None) -> None:
    Quarantine.objects.filter(pk=item.pk, state=Quarantine.PENDING).update(
        state=Quarantine.DISCARDED, decided_at=timezone.now(), decided_by=by
    )


def feed_by_key(key: str) -> Feed | None:
    """A feed by id or by name (for the CLI)."""
    feeds = Feed.objects.select_related("partner", "collection")
    if key.isdigit():
        found = feeds.filter(pk=int(key)).first()
        if found is not None:
            return found
    return feeds.filter(name=key).first()
