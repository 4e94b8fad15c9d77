"""The sync services without a partner: credential encryption and rotation, the
lease, backoff, the dispatcher and the task wrappers (STYLE.md §5)."""

from __future__ import annotations

import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from sync import crypto, pull, runs, services
from sync.models import Feed, SyncRun
from sync.tasks import pull_feed as pull_feed_task
from tests.factories import World

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "partner-s3cret-\u00e9"


def _feed(world: World, **fields: Any) -> Feed:
    fields.setdefault("auth_type", Feed.AUTH_BEARER)
    return services.feed_create(
        name=fields.pop("name", "acme-pull"),
        partner=world.personas["acme"].user.partner,
        api_root_url=fields.pop("api_root_url", "http://127.0.0.1:9/api1/"),
        remote_collection_id="91a7b528-80eb-42ed-a74d-c6fbd5a26116",
        collection=world.collection,
        **fields,
    )


def _stored_value(feed: Feed) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM sync_feed WHERE id = %s", [feed.pk])
        return str(cursor.fetchone()[0])


# --- credentials ---------------------------------------------------------------------


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest_and_rotate(world: World, settings: Any) -> None:
    """The database holds a Fernet token, never the secret; a new first key
    encrypts, the old still decrypts, ``rotate`` re-encrypts, then the old key
    can go."""
    settings.INTELSHARE_SYNC_KEYS = [KEY_A]
    feed = _feed(world, secret=SECRET)
    raw = _stored_value(feed)
    assert SECRET not in raw and raw.startswith("gAAAA")
    assert Feed.objects.get(pk=feed.pk).secret == SECRET
    assert Fernet(KEY_A.encode()).decrypt(raw.encode()).decode() == SECRET

    settings.INTELSHARE_SYNC_KEYS = [KEY_B, KEY_A]
    assert Feed.objects.get(pk=feed.pk).secret == SECRET  # old key still decrypts
    assert services.feed_secrets_rotate() == 1
    rotated = _stored_value(feed)
    assert rotated != raw
    assert Fernet(KEY_B.encode()).decrypt(rotated.encode()).decode() == SECRET

    settings.INTELSHARE_SYNC_KEYS = [KEY_B]
    assert Feed.objects.get(pk=feed.pk).secret == SECRET
    settings.INTELSHARE_SYNC_KEYS = [KEY_A]
    with pytest.raises(crypto.SecretUnreadable):
        _ = Feed.objects.get(pk=feed.pk).secret


def test_embedded_mode_generates_one_private_key_file(settings: Any, tmp_path: Path) -> None:
    """No key in the environment: a key file is made once under INTELSHARE_VAR_DIR, mode 0600."""
    settings.INTELSHARE_SYNC_KEYS = []
    settings.EMBEDDED = True  # the key file is the embedded mode's only
    settings.INTELSHARE_VAR_DIR = tmp_path
    token = crypto.encrypt(SECRET)
    path = tmp_path / crypto.KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert crypto.decrypt(token) == SECRET
    assert path.read_text().strip() == key
    assert Fernet(key.encode()).decrypt(token.encode()).decode() == SECRET


def test_a_malformed_key_is_a_configuration_error(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.INTELSHARE_SYNC_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet"):
        crypto.encrypt(SECRET)


# --- lease ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lease_admits_one_run_and_the_redelivery_of_the_same_task(world: World) -> None:
    """Conditional UPDATE: one holder; expiry or the same task id (a redelivered
    message) takes over, and the previous holder then cannot write."""
    feed = _feed(world)
    now = timezone.now()
    first = runs.new_owner("task-a")
    assert runs.lease_take(feed_id=feed.pk, owner=first, now=now)
    assert not runs.lease_take(feed_id=feed.pk, owner=runs.new_owner("task-b"), now=now)
    assert pull.run(feed_id=feed.pk, owner=runs.new_owner("task-b")).run is None
    assert not SyncRun.objects.exists()

    again = runs.new_owner("task-a")
    assert runs.lease_take(feed_id=feed.pk, owner=again, now=now)
    with pytest.raises(runs.LeaseLost), transaction.atomic():
        runs.lease_keep(feed_id=feed.pk, owner=first, checkpoint=now)
    feed.refresh_from_db()
    assert feed.checkpoint is None and feed.lease_owner == again

    later = now + timedelta(seconds=settings.INTELSHARE_SYNC_LEASE_SECONDS + 1)
    assert runs.lease_take(feed_id=feed.pk, owner=runs.new_owner("task-c"), now=later)


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_get_the_lease_once(world: World) -> None:
    """Eight threads on their own connections race for one feed: one wins."""
    feed = _feed(world)
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def race() -> None:
        try:
            barrier.wait()
            wins.append(
                runs.lease_take(feed_id=feed.pk, owner=runs.new_owner(), now=timezone.now())
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]


# --- backoff ---------------------------------------------------------------------------


def test_backoff_grows_with_jitter_up_to_a_cap_and_honours_retry_after() -> None:
    low = [runs.backoff(n, transient=True, rand=lambda: 0.0) for n in range(1, 10)]
    high = [runs.backoff(n, transient=True, rand=lambda: 1.0) for n in range(1, 10)]
    assert low[:4] == [15.0, 30.0, 60.0, 120.0]
    assert high[:4] == [30.0, 60.0, 120.0, 240.0]
    assert max(high) == runs.TRANSIENT_CAP
    assert runs.backoff(1, transient=True, retry_after=120, rand=lambda: 1.0) == 120.0
    assert runs.backoff(1, transient=True, retry_after=10**9) == runs.RETRY_AFTER_CAP
    assert runs.backoff(1, transient=False, rand=lambda: 0.0) == runs.PERMANENT_BASE / 2


# --- dispatch ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatcher_enqueues_due_enabled_idle_feeds_once_after_commit(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    due = _feed(world, name="due")
    _feed(world, name="paused", enabled=False)
    later = _feed(world, name="later")
    Feed.objects.filter(pk=later.pk).update(next_attempt=now + timedelta(minutes=5))
    busy = _feed(world, name="busy")
    runs.lease_take(feed_id=busy.pk, owner=runs.new_owner(), now=now)
    past = _feed(world, name="past")
    Feed.objects.filter(pk=past.pk).update(next_attempt=now - timedelta(seconds=1))

    with django_capture_on_commit_callbacks() as callbacks:
        sent = services.dispatch_due(now=now)
    assert sorted(sent) == sorted([due.pk, past.pk])
    assert len(callbacks) == 2
    due.refresh_from_db()
    assert due.next_attempt == now + due.interval
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.dispatch_due(now=now + timedelta(seconds=30)) == []
    assert callbacks == []


# --- tasks ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_retries_transient_failures_then_leaves_the_feed_to_the_dispatcher(
    world: World,
) -> None:
    """Nothing listens on the partner's port: every attempt is a transient failure,
    retried up to MAX_RETRIES (run here eagerly with ``apply``), each recorded."""
    from sync.tasks import MAX_RETRIES

    feed = _feed(world)
    pull_feed_task.apply(args=[feed.pk])
    feed.refresh_from_db()
    found = SyncRun.objects.filter(feed=feed)
    assert found.count() == MAX_RETRIES + 1
    assert set(found.values_list("outcome", flat=True)) == {SyncRun.FAILED}
    assert feed.consecutive_failures == MAX_RETRIES + 1
    assert feed.lease_owner == "" and feed.next_attempt is not None
    assert feed.next_attempt > timezone.now()


@pytest.mark.django_db
def test_task_skips_paused_feeds(world: World) -> None:
    feed = _feed(world, enabled=False)
    pull_feed_task.apply(args=[feed.pk])
    assert not SyncRun.objects.exists()


def test_tasks_sent_by_name_are_the_registered_ones() -> None:
    """Services send tasks by name (no import of the task modules); each name must
    resolve to a task the worker runs."""
    from celery import current_app

    from intelshare import submissions

    current_app.loader.import_default_modules()  # what a worker does at start
    registered = current_app.tasks
    for name in (services.PULL_TASK, services.PUSH_TASK, submissions.PROCESS_TASK):
        assert name in registered, name
