"""TAXII POST submissions (§5.5) and their status resources (§4.3)."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

import orjson
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from intelshare import ingest, sightings, stix
from intelshare.models import Collection, Partner, Status, User

logger = logging.getLogger(__name__)

CHUNK = 500


def _pending_detail(obj: Any) -> dict[str, str]:
    oid, version = ingest.describe(obj)
    return {"id": oid, "version": version}


def _record(status: Status, result: ingest.StoreResult, processed: int) -> None:
    for outcome in result.outcomes:
        detail = outcome.as_status_detail()
        if outcome.ok:
            status.successes.append(detail)
            status.success_count += 1
        else:
            status.failures.append(detail)
            status.failure_count += 1
    status.pendings = status.pendings[processed:]
    status.pending_count = len(status.pendings)
    if status.pending_count == 0:
        status.status = Status.COMPLETE
        status.completed_at = timezone.now()
        status.envelope = ""


def submit(
    *, collection: Collection, objects: list[Any], user: User | None, partner: Partner | None
) -> Status:
    """Accept a validated envelope's objects; returns its status resource."""
    if len(objects) <= settings.INTELSHARE_INLINE_MAX_OBJECTS:
        # Stored at once: the status row is written once, complete, in the same
        # transaction as the versions it describes (no pending list to rewrite).
        status = Status(
            collection=collection,
            user=user,
            partner=partner,
            request_timestamp=timezone.now(),
            total_count=len(objects),
        )
        with transaction.atomic():
            result = sightings.store(
                collection=collection,
                objects=objects,
                source_partner=partner,
                origin=f"post:{status.pk}",
            )
            _record(status, result, len(objects))
            status.save(force_insert=True)
        return status
    with transaction.atomic():
        status = Status.objects.create(
            collection=collection,
            user=user,
            partner=partner,
            request_timestamp=timezone.now(),
            total_count=len(objects),
            pending_count=len(objects),
            pendings=[_pending_detail(o) for o in objects],
            envelope=orjson.dumps(objects).decode(),
        )
        transaction.on_commit(partial(_enqueue, str(status.pk)))
    return status


PROCESS_TASK = "intelshare.process_status"


def _send_process(status_id: str) -> None:
    # By name: the task module imports this one, never the other way round.
    current_app.send_task(PROCESS_TASK, args=[status_id])


def _enqueue(status_id: str) -> None:
    """Send the task of a committed pending status; a broker that is down leaves it
    pending for ``resume_pending`` (beat) instead of failing the 202.
    """
    try:
        _send_process(status_id)
    except (KombuError, OSError) as exc:
        logger.warning(
            "status %s: task not sent (%s); resume_pending will send it",
            status_id,
            type(exc).__name__,
        )


def process(status_id: str) -> None:
    """Store a pending submission chunk by chunk (idempotent; safe to re-run)."""
    status = Status.objects.filter(pk=status_id).only("status", "envelope").first()
    if status is None or status.status == Status.COMPLETE:
        return
    objects = orjson.loads(status.envelope)
    while True:
        with transaction.atomic():
            locked = (
                Status.objects.select_for_update(of=("self",))
                .defer("envelope")
                .select_related("collection", "partner")
                .get(pk=status_id)
            )
            if locked.status == Status.COMPLETE:
                return
            done = locked.success_count + locked.failure_count
            chunk = objects[done : done + CHUNK]
            result = sightings.store(
                collection=locked.collection,
                objects=chunk,
                source_partner=locked.partner,
                origin=f"post:{status_id}",
            )
            _record(locked, result, len(chunk))
            locked.save()
            if locked.status == Status.COMPLETE:
                logger.info(
                    "status %s complete: %d succeeded, %d failed",
                    status_id,
                    locked.success_count,
                    locked.failure_count,
                )
                return


def resume_pending(*, older_than: timedelta = timedelta(minutes=2)) -> list[str]:
    """Ids of pending submissions whose task may have been lost; re-enqueued."""
    cutoff = timezone.now() - older_than
    ids = [
        str(pk)
        for pk in Status.objects.filter(
            status=Status.PENDING, request_timestamp__lt=cutoff
        ).values_list("pk", flat=True)
    ]
    for status_id in ids:
        _send_process(status_id)
    return ids


def purge(*, now: Any = None) -> int:
    """Delete complete statuses older than the retention (at least 24 h, §4.3)."""
    hours = max(settings.INTELSHARE_STATUS_RETENTION_HOURS, 24)
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    deleted, _ = Status.objects.filter(status=Status.COMPLETE, completed_at__lt=cutoff).delete()
    return deleted


def render(status: Status) -> dict[str, Any]:
    """The §4.3.1 status resource; empty detail lists are omitted (§2)."""
    body: dict[str, Any] = {
        "id": str(status.pk),
        "status": status.status,
        "request_timestamp": stix.format_timestamp(status.request_timestamp),
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
    }
    for name in ("successes", "failures", "pendings"):
        if getattr(status, name):
            body[name] = getattr(status, name)
    return body
