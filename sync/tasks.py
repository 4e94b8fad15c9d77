"""Celery tasks of the sync app: thin wrappers taking ids."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from celery import Task, shared_task
from django.conf import settings

from sync import pull, push, recall, runs, services
from sync.models import Feed

logger = logging.getLogger(__name__)

SOFT_TIME_LIMIT = 3300
TIME_LIMIT = 3400
MAX_RETRIES = 8


class _Service(Protocol):
    def __call__(
        self, *, feed_id: int, owner: str, deadline: float | None = ...
    ) -> runs.RunResult: ...


def _run(task: Task[Any, Any], service: _Service, feed_id: int) -> None:
    if not Feed.objects.filter(pk=feed_id, enabled=True).exists():
        logger.info("feed %s is paused or gone; skipped", feed_id)
        return
    owner = runs.new_owner(task.request.id, via="task")
    deadline = time.monotonic() + settings.INTELSHARE_SYNC_RUN_SECONDS
    result = service(feed_id=feed_id, owner=owner, deadline=deadline)
    if result.retry_in is None:
        return
    if task.request.retries >= MAX_RETRIES:
        logger.warning(
            "feed %s: retries exhausted; the dispatcher takes over at next_attempt", feed_id
        )
        return
    raise task.retry(countdown=result.retry_in, max_retries=MAX_RETRIES)


@shared_task(
    bind=True,
    name=services.PULL_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def pull_feed(self: Task[Any, Any], feed_id: int) -> None:
    """Pull one partner feed (DESIGN.md "Sync"; TAXII 2.1 §5.4 Get Objects)."""
    _run(self, pull.run, feed_id)


@shared_task(
    bind=True,
    name=services.PUSH_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def push_feed(self: Task[Any, Any], feed_id: int) -> None:
    """Push to one partner feed (DESIGN.md "Sync"; TAXII 2.1 §5.5 Add Objects)."""
    _run(self, push.run, feed_id)


@shared_task(name="sync.dispatch_due_feeds", ignore_result=True)
def dispatch_due_feeds() -> None:
    """Beat entry: enqueue the enabled feeds that are due (their own intervals) and
    the recall deliveries whose retry time has come."""
    services.dispatch_due()
    for delivery_id in recall.due():
        recall_deliver.delay(delivery_id)


@shared_task(
    name=recall.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def recall_deliver(delivery_id: int) -> None:
    """Send one recall's TAXII DELETE to a push partner (TAXII 2.1 §5.7)."""
    recall.deliver(delivery_id)
