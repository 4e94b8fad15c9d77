"""Partner feeds, sync runs and the quarantine through the management API: the
credential is write-only, operations call sync.services."""

from __future__ import annotations

from typing import Any

import orjson
from django.utils import timezone

from intelshare.models import User
from sync.models import Feed, Quarantine, SyncRun
from tests.factories import World, indicator

REMOTE = "7b2e4f10-1c2d-4e3f-8a9b-0c1d2e3f0001"


def _feed(world: World, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "acme-pull",
        "partner": "acme",
        "collection": str(world.collection.pk),
        "api_root_url": "https://taxii.acme.example/api1/",
        "remote_collection_id": REMOTE,
        "auth_type": "bearer",
        "secret": "tok-123-secret",
        "interval": 600,
        "default_tlp": "green",
    }
    body.update(extra)
    return body


def test_feed_credential_is_write_only(api: Any, world: World) -> None:
    staff = api()
    created = staff.post("feeds/", _feed(world))
    assert created.status_code == 201, created.content
    assert "tok-123-secret" not in created.content.decode()
    body = created.json()
    assert body["has_secret"] is True and "secret" not in body
    assert body["interval"] == 600 and body["default_tlp"] == "green"
    feed = Feed.objects.get(pk=body["id"])
    assert feed.secret == "tok-123-secret" and "tok-123" not in feed.secret_encrypted
    # Changing other fields keeps the credential; an empty one removes it.
    changed = staff.patch(f"feeds/{feed.pk}/", {"page_size": 100})
    assert changed.json()["has_secret"] is True and changed.json()["page_size"] == 100
    staff.patch(f"feeds/{feed.pk}/", {"secret": "rotated"})
    feed.refresh_from_db()
    assert feed.secret == "rotated"
    assert staff.patch(f"feeds/{feed.pk}/", {"secret": ""}).json()["has_secret"] is False
    assert "rotated" not in staff.get("feeds/").content.decode()


def test_feed_validation(api: Any, world: World) -> None:
    staff = api()
    basic_without_user = staff.post("feeds/", _feed(world, auth_type="basic"))
    assert basic_without_user.status_code == 400 and "username" in basic_without_user.json()
    creds_in_url = staff.post("feeds/", _feed(world, api_root_url="https://u:p@x.example/a/"))
    assert creds_in_url.status_code == 400 and "api_root_url" in creds_in_url.json()
    staff.post("feeds/", _feed(world))
    dup = staff.post("feeds/", _feed(world))
    assert dup.status_code == 400 and "name" in dup.json()
    feed = Feed.objects.get(name="acme-pull")
    push20 = staff.patch(f"feeds/{feed.pk}/", {"direction": "push", "taxii_version": "2.0"})
    assert push20.status_code == 400 and "taxii_version" in push20.json()
    assert staff.post("feeds/", _feed(world, name="x", interval=0)).status_code == 400


def test_feed_operations(api: Any, world: World, django_capture_on_commit_callbacks: Any) -> None:
    staff = api()
    feed_id = staff.post("feeds/", _feed(world)).json()["id"]
    assert staff.post(f"feeds/{feed_id}/pause/").json()["enabled"] is False
    assert staff.post(f"feeds/{feed_id}/run/").status_code == 409  # paused
    assert staff.post(f"feeds/{feed_id}/resume/").json()["enabled"] is True
    with django_capture_on_commit_callbacks() as enqueued:
        ran = staff.post(f"feeds/{feed_id}/run/")
    assert ran.status_code == 202 and len(enqueued) == 1
    Feed.objects.filter(pk=feed_id).update(checkpoint=timezone.now())
    assert staff.post(f"feeds/{feed_id}/reset/").json()["checkpoint"] is None
    Feed.objects.filter(pk=feed_id).update(
        lease_until=timezone.now() + timezone.timedelta(minutes=5)
    )
    assert staff.post(f"feeds/{feed_id}/reset/").status_code == 409  # a run holds it
    assert staff.get("feeds/", {"partner": "acme", "failing": "false"}).json()["count"] == 1
    assert staff.delete(f"feeds/{feed_id}/").status_code == 204


def _with_history(world: World) -> tuple[Feed, SyncRun]:
    from sync import services

    feed = services.feed_create(
        name="acme-pull",
        partner=world.personas["acme"].user.partner,
        api_root_url="https://taxii.acme.example/api1/",
        remote_collection_id=REMOTE,
        collection=world.collection,
    )
    run = SyncRun.objects.create(
        feed=feed,
        direction=feed.direction,
        started=timezone.now(),
        outcome=SyncRun.PARTIAL,
        fetched=3,
        quarantined=2,
    )
    good = indicator(9)
    bad = {k: v for k, v in indicator(8).items() if k not in ("type", "created")}
    for n, obj in enumerate([good, bad]):
        Quarantine.objects.create(
            feed=feed,
            run=run,
            stix_id=obj["id"],
            raw=orjson.dumps(obj).decode(),
            digest=f"{n:064d}",
            reason="test",
        )
    return feed, run


def test_sync_runs_and_quarantine(api: Any, world: World) -> None:
    feed, run = _with_history(world)
    staff = api()
    runs = staff.get("sync-runs/", {"feed": feed.pk}).json()["results"]
    assert [(r["id"], r["outcome"], r["quarantined"]) for r in runs] == [(run.pk, "partial", 2)]
    assert staff.get(f"sync-runs/{run.pk}/").json()["fetched"] == 3
    pending = staff.get("quarantine/", {"state": "pending"}).json()["results"]
    assert len(pending) == 2
    by_id = {q["stix_id"]: q["id"] for q in pending}
    released = staff.post(f"quarantine/{by_id[indicator(9)['id']]}/release/").json()
    assert released["ok"] is True and released["item"]["state"] == "released"
    assert released["item"]["decided_by"] == "hub-admin"
    still_bad = staff.post(f"quarantine/{by_id[indicator(8)['id']]}/release/").json()
    assert still_bad["ok"] is False and still_bad["item"]["state"] == "pending"
    discarded = staff.post(f"quarantine/{by_id[indicator(8)['id']]}/discard/")
    assert discarded.json()["state"] == "discarded"
    again = staff.post(f"quarantine/{by_id[indicator(8)['id']]}/discard/")
    assert again.status_code == 409


def test_feeds_are_not_for_partners(api: Any, world: World) -> None:
    _with_history(world)
    for path in ("feeds/", "sync-runs/", "quarantine/"):
        assert api("acme", bearer=True).get(path).status_code == 403
    assert User.objects.filter(is_staff=True).count() == 1
