"""The connection test and the remote-collection picker against medallion 3.0.0 as
the partner: API root information (TAXII 2.1 §4.2) and Get Collections (§5.1)
with the feed's own credential."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from sync import services
from sync.models import Feed
from tests.factories import World
from tests.support.medallion import MedallionCollection

from .conftest import make_feed

pytestmark = [pytest.mark.medallion, pytest.mark.django_db]

FIRST = "3f0c8a2e-6a55-4c1e-9d5b-7a1e2c000001"
SECOND = "3f0c8a2e-6a55-4c1e-9d5b-7a1e2c000002"


@pytest.fixture
def staff(world: World) -> Client:
    client = Client()
    client.force_login(world.personas["staff"].user)
    return client


def test_probe_lists_the_remote_collections_and_the_picker_repoints_the_feed(
    world: World, medallion_factory: Any, staff: Client
) -> None:
    server = medallion_factory(
        MedallionCollection(FIRST, "First"), MedallionCollection(SECOND, "Second", can_write=False)
    )
    feed = make_feed(world, server, "no-such-collection")
    Feed.objects.filter(pk=feed.pk).update(checkpoint=datetime(2024, 1, 1, tzinfo=UTC))
    probe = services.feed_probe(feed=feed)
    assert probe.ok and probe.api_root is not None
    assert {(c.id, c.title, c.can_write) for c in probe.collections} == {
        (FIRST, "First", True),
        (SECOND, "Second", False),
    }
    page = staff.get(f"/console/feeds/{feed.pk}/test/").content.decode()
    assert 'id="probe-ok"' in page and "is not in the list" in page
    assert (
        staff.post(f"/console/feeds/{feed.pk}/pick/", {"collection_id": SECOND}).status_code == 302
    )
    feed.refresh_from_db()
    assert feed.remote_collection_id == SECOND and feed.checkpoint is None
    assert "in use" in staff.get(f"/console/feeds/{feed.pk}/test/").content.decode()


def test_probe_with_a_wrong_credential_or_a_dead_port_says_why(
    world: World, medallion_factory: Any
) -> None:
    server = medallion_factory(MedallionCollection(FIRST, "First"))
    feed = make_feed(world, server, FIRST)
    services.feed_set_secret(feed=feed, secret="wrong")
    feed.refresh_from_db()
    refused = services.feed_probe(feed=feed)
    assert not refused.ok and "401" in refused.error
    Feed.objects.filter(pk=feed.pk).update(api_root_url="http://127.0.0.1:9/api1/")
    feed.refresh_from_db()
    dead = services.feed_probe(feed=feed)
    assert not dead.ok and dead.error
