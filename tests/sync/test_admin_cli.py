"""Feeds from the Django admin and the CLI: credentials are write-only, actions and
commands call the sync services (run now, pause, resume, release, discard)."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from intelshare.models import ObjectVersion, User
from sync import services
from sync.models import Feed, Quarantine, SyncRun
from tests.factories import World
from tests.support.medallion import MedallionCollection, MedallionServer, make_indicators

from .conftest import make_feed, seed

pytestmark = pytest.mark.django_db

REMOTE = "7b2e4f10-1c2d-4e3f-8a9b-0c1d2e3f0001"
REMOTE_SEED = seed(30, "cli")


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedallionServer]:
    with MedallionServer(
        tmp_path_factory.mktemp("cli"),
        collections=(MedallionCollection(id=REMOTE, title="CLI", seed=REMOTE_SEED),),
    ) as server:
        yield server


@pytest.fixture
def admin_client(world: World) -> Client:
    User.objects.create_superuser("root", password="root-pass-123")
    client = Client()
    client.login(username="root", password="root-pass-123")
    return client


def _feed(world: World, **fields: Any) -> Feed:
    return services.feed_create(
        name=fields.pop("name", "acme-pull"),
        partner=world.personas["acme"].user.partner,
        api_root_url="http://127.0.0.1:9/api1/",
        remote_collection_id=REMOTE,
        collection=world.collection,
        auth_type=Feed.AUTH_BEARER,
        **fields,
    )


def _form(feed: Feed, **changes: Any) -> dict[str, Any]:
    data = {
        "name": feed.name,
        "partner": feed.partner_id,
        "direction": feed.direction,
        "collection": str(feed.collection_id),
        "enabled": "on",
        "api_root_url": feed.api_root_url,
        "remote_collection_id": feed.remote_collection_id,
        "taxii_version": "2.1",
        "auth_type": feed.auth_type,
        "username": "",
        "header_name": "",
        "verify_tls": "on",
        "ca_bundle": "",
        "client_cert": "",
        "client_key": "",
        "interval": "00:15:00",
        "page_size": "500",
        "default_tlp": str(feed.default_tlp),
        "secret": "",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_admin_credential_is_write_only(world: World, admin_client: Client) -> None:
    feed = _feed(world, secret="first-token")
    url = f"/admin/sync/feed/{feed.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "first-token" not in page and feed.secret_encrypted not in page
    assert "stored (encrypted)" in page

    response = admin_client.post(url, _form(feed))  # empty field: keep the secret
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Feed.objects.get(pk=feed.pk).secret == "first-token"
    admin_client.post(url, _form(feed, secret="second-token"))
    assert Feed.objects.get(pk=feed.pk).secret == "second-token"
    assert "second-token" not in admin_client.get(url).content.decode()
    admin_client.post(url, _form(feed, clear_secret="on"))
    assert not Feed.objects.get(pk=feed.pk).has_secret


def test_admin_save_writes_only_the_changed_fields(world: World, admin_client: Client) -> None:
    """A run moving the checkpoint while staff edit the feed keeps its checkpoint."""
    feed = _feed(world)
    url = f"/admin/sync/feed/{feed.pk}/change/"
    form = _form(feed, page_size="50")
    moved = timezone.now().replace(microsecond=123456)
    Feed.objects.filter(pk=feed.pk).update(checkpoint=moved, consecutive_failures=2)
    assert admin_client.post(url, form).status_code == 302
    feed.refresh_from_db()
    assert (feed.page_size, feed.checkpoint, feed.consecutive_failures) == (50, moved, 2)
    response = admin_client.post(url, _form(feed, api_root_url="https://u:p@x.example/a/"))
    assert response.status_code == 200 and "without credentials" in response.content.decode()


def test_admin_actions_run_now_pause_resume(
    world: World, admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    feed = _feed(world)
    url = "/admin/sync/feed/"
    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(url, {"action": "run_now", "_selected_action": [feed.pk]})
    assert len(callbacks) == 1  # enqueued after commit (not executed here)
    admin_client.post(url, {"action": "pause", "_selected_action": [feed.pk]})
    assert not Feed.objects.get(pk=feed.pk).enabled
    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(url, {"action": "run_now", "_selected_action": [feed.pk]})
    assert callbacks == []  # paused feeds are not run
    admin_client.post(url, {"action": "resume", "_selected_action": [feed.pk]})
    feed.refresh_from_db()
    assert feed.enabled and feed.next_attempt is None
    Feed.objects.filter(pk=feed.pk).update(checkpoint=timezone.now())
    admin_client.post(url, {"action": "reset_position", "_selected_action": [feed.pk]})
    assert Feed.objects.get(pk=feed.pk).checkpoint is None
    assert admin_client.get("/admin/sync/syncrun/").status_code == 200


def test_admin_release_and_discard_quarantined_objects(world: World, admin_client: Client) -> None:
    feed = _feed(world)
    good = make_indicators(1, label="admin-release")[0]
    broken = {k: v for k, v in good.items() if k != "pattern_type"}
    fixed = Quarantine.objects.create(
        feed=feed,
        stix_id=good["id"],
        raw=orjson.dumps(good).decode(),
        digest="a" * 64,
        reason="corrected by staff",
    )
    still_bad = Quarantine.objects.create(
        feed=feed,
        stix_id=good["id"],
        raw=orjson.dumps(broken).decode(),
        digest="b" * 64,
        reason="old",
    )
    other = Quarantine.objects.create(feed=feed, raw="{}", digest="c" * 64, reason="x")
    url = "/admin/sync/quarantine/"
    admin_client.post(url, {"action": "release", "_selected_action": [fixed.pk, still_bad.pk]})
    fixed.refresh_from_db()
    still_bad.refresh_from_db()
    assert fixed.state == Quarantine.RELEASED and fixed.decided_by is not None
    assert still_bad.state == Quarantine.PENDING and "pattern_type" in still_bad.reason
    stored = ObjectVersion.objects.get(stix_id=good["id"])
    assert stored.source_partner_id == feed.partner_id
    admin_client.post(url, {"action": "discard", "_selected_action": [other.pk]})
    other.refresh_from_db()
    assert other.state == Quarantine.DISCARDED
    assert admin_client.get(f"{url}{other.pk}/change/").status_code == 200


@pytest.mark.medallion
def test_three_commands_add_sync_and_list_a_feed(
    world: World, partner: MedallionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Adding a partner feed in three commands": add_feed, sync_feed, list_feeds."""
    monkeypatch.setenv("ACME_TAXII_PASSWORD", partner.password)
    out = StringIO()
    call_command(
        "add_feed",
        "acme-pull",
        "--partner",
        "acme",
        "--api-root",
        partner.api_root_url,
        "--remote-collection",
        REMOTE,
        "--collection",
        "llm-misuse",
        "--auth",
        "basic",
        "--username",
        partner.username,
        "--secret-env",
        "ACME_TAXII_PASSWORD",
        "--interval",
        "10m",
        "--page-size",
        "10",
        "--default-tlp",
        "green",
        stdout=out,
    )
    feed = Feed.objects.get(name="acme-pull")
    assert feed.secret == partner.password and partner.password not in feed.secret_encrypted
    assert feed.interval.total_seconds() == 600 and feed.page_size == 10

    out = StringIO()
    call_command("sync_feed", "acme-pull", "--pull", stdout=out)
    assert "success" in out.getvalue() and "30 stored" in out.getvalue()
    assert SyncRun.objects.get(feed=feed).task_id.startswith("cli:")

    out = StringIO()
    call_command("list_feeds", stdout=out)
    line = next(row for row in out.getvalue().splitlines() if "acme-pull" in row)
    assert " ok " in line and "pull" in line and REMOTE_SEED[-1][0].isoformat()[:19] in line

    with pytest.raises(CommandError, match="is a pull feed"):
        call_command("sync_feed", str(feed.pk), "--push")
    with pytest.raises(CommandError, match="no feed"):
        call_command("sync_feed", "nope")


@pytest.mark.medallion
def test_sync_feed_reports_a_failure_with_a_nonzero_exit(
    world: World, partner: MedallionServer
) -> None:
    feed = make_feed(world, partner, REMOTE)
    services.feed_set_secret(feed=feed, secret="wrong")
    with pytest.raises(CommandError, match="401"):
        call_command("sync_feed", feed.name, stdout=StringIO())
    out = StringIO()
    call_command("list_feeds", stdout=out)
    assert "failing x1" in out.getvalue() and "401" in out.getvalue()


def test_add_feed_refuses_secrets_without_a_source_and_bad_values(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [
        "x",
        "--partner",
        "acme",
        "--api-root",
        "https://taxii.example/api1/",
        "--remote-collection",
        REMOTE,
        "--collection",
        "llm-misuse",
    ]
    monkeypatch.setattr("sys.stdin", StringIO(""))
    with pytest.raises(CommandError, match="secret"):
        call_command("add_feed", *args, "--auth", "bearer")
    monkeypatch.setattr("sys.stdin", StringIO("pw\n"))
    with pytest.raises(CommandError, match="username"):
        call_command("add_feed", *args, "--auth", "basic", "--secret-stdin")
    with pytest.raises(CommandError, match="partner"):
        call_command("add_feed", "y", "--partner", "nobody", *args[3:])


def test_rotate_sync_keys_command(world: World, settings: Any) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.INTELSHARE_SYNC_KEYS = [old]
    feed = _feed(world, secret="token")
    settings.INTELSHARE_SYNC_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_sync_keys", stdout=out)
    assert "re-encrypted 1" in out.getvalue()
    settings.INTELSHARE_SYNC_KEYS = [new]
    assert Feed.objects.get(pk=feed.pk).secret == "token"
