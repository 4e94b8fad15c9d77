"""A pull run in a real Celery worker, SIGKILLed half-way (DESIGN.md "Sync": a worker
killed at any point loses nothing and duplicates nothing when the run is retried).

On Redis (CI) the unacknowledged message (``acks_late``) is delivered again:
the broker does so once its visibility timeout has passed, which the test
stands for by ageing the delivery's entry in the broker's unacked index
(kombu's ``restore_visible`` then restores it when the next worker starts).
The redelivery carries the same task id, so it takes over the dead run's lease
at once. On the filesystem broker (embedded, not crash-safe) a message taken
by a killed worker is gone; the dispatcher enqueues the feed again once the
dead run's lease has expired. Either way the final set is exactly the remote
set, fetched over TAXII 2.1 §5.4 from medallion.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.utils import timezone

from intelshare.models import ObjectVersion
from sync import services
from sync.models import Feed, SyncRun
from sync.tasks import pull_feed as pull_feed_task
from tests.factories import World
from tests.integration.celery_worker import celery_worker, wait_for
from tests.support.medallion import MedallionCollection

from .conftest import make_feed, seed

pytestmark = [pytest.mark.worker, pytest.mark.medallion, pytest.mark.django_db(transaction=True)]

REMOTE = "8c3f5a21-2d3e-4f40-9b0c-1d2e3f400001"
COUNT, PAGE = 400, 2
LEASE = 3
KEY = Fernet.generate_key().decode()


def _poll(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _age_unacked_delivery(task_id: str) -> int:
    """Make the broker treat our unacknowledged delivery as past its visibility timeout."""
    import redis

    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    aged = 0
    for tag, score in client.zrange("unacked_index", 0, -1, withscores=True):
        payload = client.hget("unacked", tag)
        if payload and task_id in payload.decode():
            client.zadd("unacked_index", {tag: score - 2 * 3600})
            aged += 1
    return aged


def test_worker_killed_mid_pull_the_retried_run_ends_with_exactly_the_remote_set(
    world: World, medallion_factory: Any, settings: Any, tmp_path: Path
) -> None:
    settings.INTELSHARE_SYNC_KEYS = [KEY]
    remote = seed(COUNT, "worker-kill")
    server = medallion_factory(MedallionCollection(id=REMOTE, title="Kill", seed=remote))
    feed = make_feed(world, server, REMOTE, page_size=PAGE)
    env = (("INTELSHARE_SYNC_KEYS", KEY), ("INTELSHARE_SYNC_LEASE_SECONDS", str(LEASE)))
    redis_broker = django_settings.CELERY_BROKER_URL.startswith("redis")
    task_id = f"kill-{uuid.uuid4()}"

    with celery_worker(tmp_path / "worker-1.log", *env) as worker:
        pull_feed_task.apply_async(args=[feed.pk], task_id=task_id)
        _poll(
            lambda: SyncRun.objects.filter(feed=feed, pages__gte=40).exists(),
            90,
            "the worker to store 40 pages",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    dead = SyncRun.objects.get(feed=feed)
    feed.refresh_from_db()
    stored = ObjectVersion.objects.filter(collection=world.collection).count()
    assert dead.outcome == SyncRun.RUNNING and dead.finished is None  # killed mid-run
    assert dead.task_id == task_id
    assert stored == dead.stored == dead.pages * PAGE < COUNT
    # The checkpoint is exactly the last committed page's: nothing half-stored.
    assert feed.checkpoint == remote[stored - 1][0] - timedelta(microseconds=1)

    if redis_broker:
        assert _age_unacked_delivery(task_id) == 1
    else:
        _poll(
            lambda: Feed.objects.get(pk=feed.pk).lease_until < timezone.now(),
            LEASE + 5,
            "the dead run's lease to expire",
        )
        assert services.dispatch_due() == [feed.pk]

    with celery_worker(tmp_path / "worker-2.log", *env):
        wait_for(
            lambda: SyncRun.objects.filter(feed=feed, outcome=SyncRun.SUCCESS).exists(),
            timeout=120,
            what="the retried run to complete",
        )

    runs = {run.outcome: run for run in SyncRun.objects.filter(feed=feed)}
    assert set(runs) == {SyncRun.ABANDONED, SyncRun.SUCCESS}
    retried = runs[SyncRun.SUCCESS]
    if redis_broker:
        assert retried.task_id == task_id  # the same message, delivered again
    assert retried.checkpoint_before == feed.checkpoint
    assert (retried.fetched, retried.stored, retried.duplicates) == (
        COUNT - stored + 1,
        COUNT - stored,
        1,
    )
    ids = list(
        ObjectVersion.objects.filter(collection=world.collection).values_list("stix_id", flat=True)
    )
    assert len(ids) == COUNT and sorted(ids) == sorted(obj["id"] for _, obj in remote)
    feed.refresh_from_db()
    assert feed.checkpoint == remote[-1][0] and feed.healthy and feed.lease_owner == ""
    log = (tmp_path / "worker-2.log").read_text()
    assert "sync.pull_feed" in log, json.dumps(log[-2000:])
