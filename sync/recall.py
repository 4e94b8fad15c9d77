"""Recall: versions deleted on the hub are asked back from every push partner that
received them (a TAXII 2.1 DELETE, §5.7, per feed), and the partners that pulled
them are named for staff, who tell them out of band."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from intelshare import audit, policy
from intelshare.models import AuditEvent, Collection, User
from sync import runs, services
from sync.client import RemoteError, RemoteRejected, TaxiiClient
from sync.models import Feed, Recall, RecallDelivery, RecallReceipt

logger = logging.getLogger(__name__)

PUSH_ENDPOINT = "push"  # AuditEvent.endpoint of an envelope a push feed delivered
RECALL_ENDPOINT = "recall"  # ... of a DELETE sent to a push partner
DELIVER_TASK = "sync.recall_deliver"
CLAIM = timedelta(minutes=10)  # a delivery being sent is not picked up again meanwhile


def record_push(*, feed: Feed, version_pks: Sequence[int], at: datetime) -> None:
    """Audit an envelope ``feed`` delivered (called in the transaction that moves the
    push cursor past it)."""
    AuditEvent.objects.create(
        at=at,
        partner_id=feed.partner_id,
        method="POST",
        endpoint=PUSH_ENDPOINT,
        collection_id=feed.collection_id,
        filters={"feed": str(feed.pk)},
        status_code=202,
        count=len(version_pks),
        versions=audit.runs(version_pks),
    )


def on_deleting(
    *,
    collection: Collection,
    stix_id: str,
    versions: list[tuple[int, str]],
    by: User | None,
    **_: Any,
) -> Recall:
    """Receiver of ``intelshare.signals.versions_deleting``: the recall of ``versions``."""
    now = timezone.now()
    texts = dict(versions)
    recall = Recall.objects.create(
        at=now,
        collection=collection,
        stix_id=stix_id,
        versions=sorted(texts.values()),
        by=by if by is not None and by.pk else None,
    )
    added = min(
        policy.catalogue(collection=collection)
        .filter(pk__in=list(texts))
        .values_list("date_added", flat=True)
    )
    served = (
        audit.carrying(list(texts))
        .filter(partner__isnull=False, collection=collection, at__gte=added)
        .filter(Q(method="GET", status_code__in=(200, 206)) | Q(endpoint=PUSH_ENDPOINT))
        .order_by("at", "id")
        .values_list("partner_id", "at", "endpoint", "filters", "versions")
    )
    receipts = []
    pushed: dict[int, set[str]] = defaultdict(set)
    for partner_id, at, endpoint, filters, carried in served:
        feed_id = int(filters["feed"]) if endpoint == PUSH_ENDPOINT else None
        for pk in audit.keys(carried):
            if pk not in texts:
                continue
            receipts.append(
                RecallReceipt(
                    recall=recall,
                    partner_id=partner_id,
                    via=RecallReceipt.PUSH if feed_id else RecallReceipt.PULL,
                    feed_id=feed_id,
                    at=at,
                    version=texts[pk],
                    endpoint=endpoint,
                )
            )
            if feed_id:
                pushed[feed_id].add(texts[pk])
    live = set(Feed.objects.filter(pk__in=list(pushed)).values_list("pk", flat=True))
    RecallReceipt.objects.bulk_create(
        [r for r in receipts if r.feed_id is None or r.feed_id in live]
    )
    deliveries = RecallDelivery.objects.bulk_create(
        RecallDelivery(
            recall=recall, feed_id=f, versions=sorted(pushed[f]), next_attempt=now, updated=now
        )
        for f in sorted(live)
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: [current_app.send_task(DELIVER_TASK, args=[i]) for i in ids])
    logger.info(
        "recall of %s (%d versions): %d receipts, %d push partners",
        stix_id,
        len(texts),
        len(receipts),
        len(ids),
    )
    return recall


def _claim(delivery_id: int, now: datetime) -> RecallDelivery | None:
    claimed = RecallDelivery.objects.filter(
        pk=delivery_id, state=RecallDelivery.PENDING, next_attempt__lte=now
    ).update(next_attempt=now + CLAIM)
    if not claimed:
        return None
    return RecallDelivery.objects.select_related("recall", "feed__partner", "feed__collection").get(
        pk=delivery_id
    )


def deliver(
    delivery_id: int,
    *,
    client_factory: services.ClientFactory = services.client_for,
    client: TaxiiClient | None = None,
) -> RecallDelivery | None:
    """Send one delivery's DELETE if it is due (through ``client`` when a push run
    lends its own); record the answer. A 404 means the partner no longer has the
    versions: done."""
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    recall, feed = delivery.recall, delivery.feed
    delivery.attempts += 1
    try:
        with nullcontext(client) if client is not None else client_factory(feed) as using:
            using.delete_object(recall.stix_id, delivery.versions)
    except RemoteRejected as exc:
        done = exc.status_code == 404
        delivery.state = RecallDelivery.DONE if done else RecallDelivery.REFUSED
        delivery.status_code = exc.status_code
        delivery.message = "not on the partner's server" if done else str(exc)[:2000]
    except RemoteError as exc:
        delivery.status_code = getattr(exc, "status_code", None)
        delivery.message = str(exc)[:2000]
        if delivery.attempts >= RecallDelivery.MAX_ATTEMPTS:
            delivery.state = RecallDelivery.FAILED
        else:
            wait = runs.backoff(
                delivery.attempts, transient=True, retry_after=getattr(exc, "retry_after", None)
            )
            delivery.next_attempt = now + timedelta(seconds=wait)
    else:
        delivery.state, delivery.status_code = RecallDelivery.DONE, 200
        delivery.message = "deleted on the partner's server"
    delivery.updated = timezone.now()
    if delivery.state != RecallDelivery.PENDING:
        delivery.next_attempt = delivery.updated
    with transaction.atomic():
        delivery.save()
        AuditEvent.objects.create(
            at=delivery.updated,
            partner_id=feed.partner_id,
            method="DELETE",
            endpoint=RECALL_ENDPOINT,
            collection_id=recall.collection_id,
            object_id=recall.stix_id[:300],
            filters={"feed": str(feed.pk), "match[version]": ",".join(delivery.versions)[:500]},
            status_code=delivery.status_code or 0,
            count=len(delivery.versions),
            versions=[],
        )
    logger.info(
        "recall %s to feed %s: %s (%s)", recall.pk, feed.pk, delivery.state, delivery.message
    )
    return delivery


def due(*, now: datetime | None = None, feed: Feed | None = None, limit: int = 100) -> list[int]:
    """Pending deliveries whose time has come (the dispatcher, or a push run for its
    own feed, sends them)."""
    pending = RecallDelivery.objects.filter(
        state=RecallDelivery.PENDING, next_attempt__lte=now or timezone.now()
    )
    if feed is not None:
        pending = pending.filter(feed=feed)
    return list(pending.order_by("next_attempt").values_list("pk", flat=True)[:limit])
