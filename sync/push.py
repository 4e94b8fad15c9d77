"""Sync push: the hub to a partner's TAXII collection (DESIGN.md "Sync", flow 4)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from intelshare import policy, stix
from sync import recall, runs, services
from sync.client import RemoteError, RemoteRejected, RemoteUnavailable, TaxiiClient
from sync.models import Feed, SyncRun

logger = logging.getLogger(__name__)

REJECTIONS_MAX = 1000
_ENVELOPE_HEAD, _ENVELOPE_TAIL, _SEPARATOR = len('{"objects": ['), len("]}"), len(", ")


class PushStopped(Exception):
    """The remote did not accept everything sent; the cursor stays before the first
    object it did not accept."""


@dataclass(frozen=True, slots=True)
class Item:
    """One version in an envelope: where it sits in the view, and what it is."""

    pk: int
    view_date: datetime
    stix_id: str
    version: str
    obj: dict[str, Any] | None = None
    size: int = 0  # bytes in taxii2client's encoding (json.dumps, UTF-8)

    def as_json(self) -> list[Any]:
        return [self.pk, stix.format_timestamp(self.view_date), self.stix_id, self.version]

    @classmethod
    def from_json(cls, value: Sequence[Any]) -> Item:
        return cls(int(value[0]), stix.parse_timestamp(value[1]), str(value[2]), str(value[3]))


def run(
    *,
    feed_id: int,
    owner: str,
    deadline: float | None = None,
    client_factory: services.ClientFactory = services.client_for,
) -> runs.RunResult:
    """One push run of ``feed_id`` under lease ``owner`` (see the module docstring)."""
    begun = runs.run_begin(feed_id=feed_id, owner=owner, direction=Feed.PUSH)
    if begun is None:
        return runs.RunResult(None)
    feed, sync_run = begun
    try:
        with client_factory(feed) as client:
            more = _push(feed, sync_run, owner, client, deadline)
    except runs.LeaseLost:
        logger.warning("feed %s run %s: lease lost; stopped", feed.pk, sync_run.pk)
        return runs.run_lost(sync_run)
    except (RemoteError, PushStopped) as exc:
        return runs.run_fail(feed, sync_run, owner, exc)
    except Exception as exc:
        runs.run_fail(feed, sync_run, owner, exc)
        raise
    return runs.run_succeed(feed, sync_run, owner, more=more)


def _push(
    feed: Feed, sync_run: SyncRun, owner: str, client: TaxiiClient, deadline: float | None
) -> bool:
    """Send everything after the cursor; True if stopped by ``deadline`` with more to do."""
    for delivery_id in recall.due(feed=feed):  # recalls first: a DELETE owed is older
        recall.deliver(delivery_id, client=client)
    if feed.push_inflight:
        _resolve_inflight(feed, sync_run, owner, client)
    limit = client.api_root_info().max_content_length
    view = policy.visible(partner=feed.partner, collection=feed.collection, now=timezone.now())
    theirs = ~Q(source_partner=feed.partner)
    fields = ("raw", *view.redaction_fields)
    while True:
        cursor = None
        if feed.push_cursor_date is not None and feed.push_cursor_pk is not None:
            cursor = policy.Cursor(feed.push_cursor_date, feed.push_cursor_pk)
        rows = view.window(
            theirs, added_after=None, after=cursor, limit=feed.page_size, fields=fields
        )
        if not rows:
            return False
        for envelope in _envelopes(_items(rows, view.render(rows, 2)), limit):
            _send(feed, sync_run, owner, client, envelope, limit)
        if deadline is not None and time.monotonic() > deadline:
            return True


def _items(rows: Sequence[policy.Row], texts: Sequence[str]) -> list[Item]:
    items = []
    for row, text in zip(rows, texts, strict=True):
        obj = orjson.loads(text)
        size = len(json.dumps(obj, ensure_ascii=False).encode())
        version = obj.get("modified") or obj.get("created") or ""
        items.append(Item(row.pk, row.added, obj["id"], version, obj, size))
    return items


def _envelopes(items: list[Item], limit: int) -> Iterator[list[Item]]:
    """Consecutive runs of ``items`` whose envelope fits in ``limit`` bytes."""
    batch: list[Item] = []
    size = _ENVELOPE_HEAD + _ENVELOPE_TAIL
    for item in items:
        extra = item.size + (_SEPARATOR if batch else 0)
        if batch and size + extra > limit:
            yield batch
            batch, size, extra = [], _ENVELOPE_HEAD + _ENVELOPE_TAIL, item.size
        batch.append(item)
        size += extra
    if batch:
        yield batch


def _send(
    feed: Feed, sync_run: SyncRun, owner: str, client: TaxiiClient, envelope: list[Item], limit: int
) -> None:
    if envelope[0].size + _ENVELOPE_HEAD + _ENVELOPE_TAIL > limit:
        # Alone in its envelope and still too large: the remote would answer 413.
        item, note = envelope[0], f"larger than the remote's max_content_length ({limit})"
        _record(
            feed,
            sync_run,
            owner,
            envelope,
            accepted=0,
            pushed=0,
            failures=[{"id": item.stix_id, "version": item.version, "message": note}],
        )
        raise PushStopped(f"{item.stix_id} is {note}")
    runs.lease_keep(feed_id=feed.pk, owner=owner)
    status = client.add_objects({"objects": [item.obj for item in envelope]})
    # Remember the status before waiting: a crash from here on re-reads it
    # instead of sending the envelope a second time.
    inflight = {"status_id": status["id"], "items": [item.as_json() for item in envelope]}
    runs.lease_keep(feed_id=feed.pk, owner=owner, push_inflight=inflight)
    feed.push_inflight = inflight
    _settle(feed, sync_run, owner, client, envelope, status)


def _resolve_inflight(feed: Feed, sync_run: SyncRun, owner: str, client: TaxiiClient) -> None:
    inflight = feed.push_inflight or {}
    items = [Item.from_json(value) for value in inflight.get("items", [])]
    try:
        status = client.get_status(str(inflight.get("status_id", "")))
    except RemoteRejected as exc:
        if exc.status_code != 404:
            raise
        # The remote forgot the status: nothing to learn, send those again.
        logger.warning("feed %s: status of the in-flight envelope is gone; re-sending", feed.pk)
        runs.lease_keep(feed_id=feed.pk, owner=owner, push_inflight=None)
        feed.push_inflight = None
        return
    _settle(feed, sync_run, owner, client, items, status)


def _settle(
    feed: Feed,
    sync_run: SyncRun,
    owner: str,
    client: TaxiiClient,
    envelope: list[Item],
    status: dict[str, Any],
) -> None:
    """Wait for ``status`` to complete, then move the cursor past the accepted prefix."""
    if status.get("status") != "complete":
        status = client.wait_for_status(
            str(status["id"]), timeout=settings.INTELSHARE_SYNC_STATUS_TIMEOUT, poll_interval=1.0
        )
        if status.get("status") != "complete":
            raise RemoteUnavailable(
                f"status {status['id']} still pending after "
                f"{settings.INTELSHARE_SYNC_STATUS_TIMEOUT} s",
                url=client.api_root_url,
            )
    accepted = _accepted_prefix(envelope, status)
    failures = [d for d in status.get("failures") or [] if isinstance(d, dict)]
    pushed = int(status.get("success_count") or 0)
    _record(
        feed,
        sync_run,
        owner,
        envelope,
        accepted=accepted,
        pushed=pushed,
        failures=failures,
        settled=True,
    )
    if accepted < len(envelope):
        not_accepted = len(envelope) - accepted
        raise PushStopped(
            f"the remote did not accept {not_accepted} of {len(envelope)} objects "
            f"(status {status.get('id')}: {len(failures)} failures); first: "
            f"{envelope[accepted].stix_id}"
        )


def _version_key(version: object) -> object:
    try:
        return stix.parse_timestamp(version)
    except ValueError:
        return version


def _accepted_prefix(envelope: list[Item], status: dict[str, Any]) -> int:
    """How many leading objects of ``envelope`` the status reports as successes."""
    total = len(envelope)
    if (
        status.get("success_count") == total
        and not status.get("failure_count")
        and not status.get("pending_count")
    ):
        return total  # all accepted, whether or not details were sent
    successes = [d for d in status.get("successes") or [] if isinstance(d, dict)]
    versions = {(d.get("id"), _version_key(d.get("version"))) for d in successes}
    ids = {d.get("id") for d in successes}
    accepted = 0
    for item in envelope:
        unversioned = not item.version  # an SCO: the remote picks its own version
        if (item.stix_id, _version_key(item.version)) in versions or (
            unversioned and item.stix_id in ids
        ):
            accepted += 1
        else:
            break
    return accepted


def _record(
    feed: Feed,
    sync_run: SyncRun,
    owner: str,
    envelope: list[Item],
    *,
    accepted: int,
    pushed: int,
    failures: list[dict[str, Any]],
    settled: bool = False,
) -> None:
    """Move the cursor past the first ``accepted`` items and count, in one transaction."""
    changes: dict[str, Any] = {}
    if settled:
        changes["push_inflight"] = None
    if accepted:
        last = envelope[accepted - 1]
        changes.update(
            push_cursor_date=last.view_date,
            push_cursor_pk=last.pk,
            remote_added_last=last.view_date,
        )
    details = [
        {key: str(d.get(key, ""))[:500] for key in ("id", "version", "message")} for d in failures
    ]
    with transaction.atomic():
        runs.lease_keep(feed_id=feed.pk, owner=owner, **changes)
        counts: dict[str, Any] = {
            "pages": F("pages") + 1,
            "pushed": F("pushed") + pushed,
            "rejected": F("rejected") + len(failures),
        }
        if accepted:
            counts["checkpoint_after"] = envelope[accepted - 1].view_date
        SyncRun.objects.filter(pk=sync_run.pk).update(**counts)
        if accepted:
            recall.record_push(
                feed=feed, version_pks=[i.pk for i in envelope[:accepted]], at=timezone.now()
            )
        if details:
            run = SyncRun.objects.select_for_update().only("rejections").get(pk=sync_run.pk)
            run.rejections = (run.rejections + details)[:REJECTIONS_MAX]
            run.save(update_fields=["rejections"])
    for name, value in changes.items():
        setattr(feed, name, value)
    logger.info(
        "feed %s envelope of %d: %d accepted in order, %d failures",
        feed.pk,
        len(envelope),
        accepted,
        len(failures),
    )
