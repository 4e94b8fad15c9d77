"""Recall of deleted versions (TAXII 2.1 §5.7 Delete an Object), with medallion 3.0.0
as the push partner: what the hub pushed and then deleted is deleted there too; the
partners that pulled it are named from the audit; a refusal is recorded and never
retried; an unreachable partner is retried with backoff, then given up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from intelshare import ingest, stixids
from intelshare.models import AuditEvent, ObjectVersion
from sync import recall
from sync.client import BasicAuth, TaxiiClient
from sync.models import Feed, Recall, RecallDelivery, SyncRun
from tests.factories import World, indicator
from tests.support.medallion import RO_COLLECTION, MedallionCollection, MedallionServer

from .conftest import make_feed
from .conftest import run_feed as _run

pytestmark = [pytest.mark.medallion, pytest.mark.django_db]

PUSHED = "7b2e4f3a-1d5c-4e6f-9a81-b2c3d4e50001"
RO = RO_COLLECTION


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedallionServer]:
    collections = [
        MedallionCollection(id=PUSHED, title="pushed"),
        MedallionCollection(id=RO, title="read-only", can_write=False),
    ]
    with MedallionServer(tmp_path_factory.mktemp("recall"), collections=collections) as server:
        yield server


def _remote_ids(server: MedallionServer, collection: str) -> set[tuple[str, str]]:
    client = TaxiiClient(
        server.api_root_url, collection, auth=BasicAuth(server.username, server.password)
    )
    with client:
        return {
            (o["id"], o["modified"])
            for page in client.pages(limit=100)
            for o in page.objects
            if o["type"] == "indicator"
        }


def _delete(world: World, stix_id: str, taxii: Any, persona: str = "acme") -> None:
    """Delete every version of ``stix_id`` through the TAXII endpoint (§5.7)."""
    response = taxii(persona).delete(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/{stix_id}/"
    )
    assert response.status_code == 200, response.content


def _versions(n: int) -> list[dict[str, Any]]:
    green = [stixids.TLP2_GREEN]
    return [indicator(n, markings=green), indicator(n, version=1, markings=green)]


def test_deleted_versions_are_deleted_on_the_push_partner_and_pullers_are_named(
    partner: MedallionServer, world: World, taxii: Any
) -> None:
    kept, doomed = indicator(1, markings=[stixids.TLP2_GREEN]), _versions(2)
    assert ingest.store(collection=world.collection, objects=[kept, *doomed]).failed == 0
    feed = make_feed(world, partner, PUSHED, direction=Feed.PUSH, page_size=50)
    assert _run(feed).outcome == SyncRun.SUCCESS
    pushed = {(o["id"], o["modified"]) for o in doomed}
    assert pushed <= _remote_ids(partner, PUSHED)
    pulled = taxii("globex").get(f"/taxii2/intel/collections/{world.collection.pk}/objects/")
    assert pulled.status_code == 200

    _delete(world, doomed[0]["id"], taxii)

    made = Recall.objects.get(stix_id=doomed[0]["id"])
    assert made.versions == sorted(o["modified"] for o in doomed)
    assert made.by == world.personas["acme"].user
    receipts = {(r.partner.slug, r.via, r.version) for r in made.receipts.all()}
    globex_latest = max(o["modified"] for o in doomed)  # a pull serves the latest version
    assert ("globex", "pull", globex_latest) in receipts
    assert {(feed.partner.slug, "push", o["modified"]) for o in doomed} <= receipts
    delivery = made.deliveries.get()
    assert (delivery.feed, delivery.state, delivery.versions) == (
        feed,
        RecallDelivery.PENDING,
        made.versions,
    )

    assert _run(feed).outcome == SyncRun.SUCCESS  # the feed's next run sends the DELETE

    sent = RecallDelivery.objects.get(pk=delivery.pk)
    assert sent.state == RecallDelivery.DONE and sent.status_code == 200
    remote = _remote_ids(partner, PUSHED)
    assert not pushed & remote
    assert (kept["id"], kept["modified"]) in remote
    audited = AuditEvent.objects.get(endpoint=recall.RECALL_ENDPOINT)
    assert (audited.method, audited.object_id, audited.partner_id) == (
        "DELETE",
        doomed[0]["id"],
        feed.partner_id,
    )
    assert recall.deliver(delivery.pk) is None  # done: never sent again
    assert recall.due(now=timezone.now() + timedelta(days=30)) == []


def test_a_refusing_partner_is_recorded_and_not_retried(
    partner: MedallionServer, world: World, taxii: Any
) -> None:
    obj = indicator(5, markings=[stixids.TLP2_GREEN])
    ingest.store(collection=world.collection, objects=[obj])
    feed = make_feed(world, partner, RO, direction=Feed.PUSH)
    # The read-only collection refuses writes: the hub records a push it made
    # elsewhere; here the audit row stands for a delivery medallion accepted earlier.
    pk = ObjectVersion.objects.get(stix_id=obj["id"]).pk
    recall.record_push(feed=feed, version_pks=[pk], at=timezone.now())
    _delete(world, obj["id"], taxii)

    delivery = RecallDelivery.objects.get(recall__stix_id=obj["id"])
    sent = recall.deliver(delivery.pk)

    assert sent is not None and sent.state == RecallDelivery.REFUSED
    assert sent.status_code == 403 and sent.attempts == 1 and sent.message
    assert recall.due(now=timezone.now() + timedelta(days=30)) == []


def test_an_unreachable_partner_is_retried_with_backoff_then_given_up(
    world: World, taxii: Any
) -> None:
    obj = indicator(6)
    ingest.store(collection=world.collection, objects=[obj])
    from sync import services

    feed = services.feed_create(
        name="dead",
        partner=world.personas["globex"].user.partner,
        api_root_url="http://127.0.0.1:9/api/",
        remote_collection_id=str(uuid.uuid4()),
        collection=world.collection,
        direction=Feed.PUSH,
    )
    recall.record_push(
        feed=feed,
        version_pks=[ObjectVersion.objects.get(stix_id=obj["id"]).pk],
        at=timezone.now(),
    )
    _delete(world, obj["id"], taxii)
    delivery = RecallDelivery.objects.get(recall__stix_id=obj["id"])

    first = recall.deliver(delivery.pk)
    assert first is not None and first.state == RecallDelivery.PENDING and first.attempts == 1
    assert first.next_attempt > timezone.now()
    assert recall.deliver(delivery.pk) is None  # not due yet
    for attempt in range(2, RecallDelivery.MAX_ATTEMPTS + 1):
        RecallDelivery.objects.filter(pk=delivery.pk).update(next_attempt=timezone.now())
        later = recall.deliver(delivery.pk)
        assert later is not None and later.attempts == attempt
    assert later.state == RecallDelivery.FAILED
    assert recall.due(now=timezone.now() + timedelta(days=30)) == []


def test_a_partner_that_never_received_a_version_is_neither_named_nor_asked(
    world: World, taxii: Any
) -> None:
    """A DELETE to a push partner names an object id: only partners that had a
    version are asked, so the recall reveals nothing to the others."""
    from intelshare import services as hub_services
    from intelshare import stix
    from intelshare.models import Agreement

    red = indicator(7, markings=[stixids.TLP2_RED])
    ingest.store(collection=world.collection, objects=[red])
    globex = Agreement.objects.get(partner__slug="globex")
    hub_services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_AMBER)
    taxii("globex").get(f"/taxii2/intel/collections/{world.collection.pk}/objects/")
    _delete(world, red["id"], taxii)
    made = Recall.objects.get(stix_id=red["id"])
    assert not made.deliveries.exists()
    assert "globex" not in {r.partner.slug for r in made.receipts.all()}
