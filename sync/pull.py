"""Sync pull: a partner's TAXII collection → the hub (DESIGN.md "Sync", flow 3)."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any

import orjson
from django.db import transaction
from django.db.models import F

from intelshare import ingest, sightings
from sync import runs, services
from sync.client import Page, RemoteError
from sync.models import Feed, Quarantine, SyncRun

logger = logging.getLogger(__name__)


def run(
    *,
    feed_id: int,
    owner: str,
    deadline: float | None = None,
    client_factory: services.ClientFactory = services.client_for,
) -> runs.RunResult:
    """One pull run of ``feed_id`` under lease ``owner``."""
    begun = runs.run_begin(feed_id=feed_id, owner=owner, direction=Feed.PULL)
    if begun is None:
        return runs.RunResult(None)
    feed, sync_run = begun
    more = False
    try:
        with client_factory(feed) as client:
            for page in client.pages(added_after=feed.checkpoint, limit=feed.page_size):
                _store_page(feed, sync_run, owner, page)
                if deadline is not None and page.more and time.monotonic() > deadline:
                    more = True
                    break
    except runs.LeaseLost:
        logger.warning("feed %s run %s: lease lost; stopped", feed.pk, sync_run.pk)
        return runs.run_lost(sync_run)
    except RemoteError as exc:
        return runs.run_fail(feed, sync_run, owner, exc)
    except Exception as exc:
        runs.run_fail(feed, sync_run, owner, exc)
        raise
    return runs.run_succeed(feed, sync_run, owner, more=more)


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _quarantine_row(feed: Feed, sync_run: SyncRun, obj: Any, outcome: ingest.Outcome) -> Quarantine:
    raw = orjson.dumps(obj).decode()
    return Quarantine(
        feed=feed,
        run=sync_run,
        stix_id=outcome.id[:300],
        version=outcome.version[:40],
        raw=raw,
        digest=hashlib.sha256(raw.encode()).hexdigest(),
        reason=outcome.message or "invalid",
    )


def _store_page(feed: Feed, sync_run: SyncRun, owner: str, page: Page) -> None:
    """Store one page, quarantine its invalid objects and move the checkpoint,
    all in one transaction (or none of it)."""
    # The checkpoint only grows: a server whose added_after is inclusive, or
    # the client's overlap after a lost next token, re-reads a little.
    checkpoint = _later(feed.checkpoint, page.checkpoint)
    newest = _later(feed.remote_added_last, page.date_added_last)
    with transaction.atomic():
        result = sightings.store(
            collection=feed.collection,
            objects=page.objects,
            source_partner=feed.partner,
            default_tlp=feed.default_tlp,
            origin=f"feed:{feed.pk}/run:{sync_run.pk}",
        )
        bad = [
            _quarantine_row(feed, sync_run, obj, outcome)
            for obj, outcome in zip(page.objects, result.outcomes, strict=True)
            if not outcome.ok
        ]
        if bad:
            Quarantine.objects.bulk_create(bad, ignore_conflicts=True)
        runs.lease_keep(
            feed_id=feed.pk, owner=owner, checkpoint=checkpoint, remote_added_last=newest
        )
        SyncRun.objects.filter(pk=sync_run.pk).update(
            pages=F("pages") + 1,
            fetched=F("fetched") + len(page.objects),
            stored=F("stored") + result.new,
            duplicates=F("duplicates") + result.duplicate,
            quarantined=F("quarantined") + result.failed,
            checkpoint_after=checkpoint,
        )
    feed.checkpoint, feed.remote_added_last = checkpoint, newest
    logger.info(
        "feed %s page stored: %d new, %d duplicate, %d quarantined",
        feed.pk,
        result.new,
        result.duplicate,
        result.failed,
    )
