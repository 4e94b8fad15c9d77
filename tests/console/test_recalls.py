"""The console's recall pages: what was deleted, who had it, each push partner's
answer; a deleted object's page leads to its recall."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from intelshare import ingest
from intelshare.models import ObjectVersion
from sync import recall
from sync import services as sync_services
from sync.models import Feed, Recall, RecallDelivery
from tests.factories import World, indicator

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(world: World) -> Client:
    user = world.personas["staff"].user
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(user)
    return client


def test_recall_pages_name_the_partners_and_the_push_answer(
    world: World, staff: Client, taxii: object
) -> None:
    obj = indicator(3)
    ingest.store(collection=world.collection, objects=[obj])
    taxii("globex").get(f"/taxii2/intel/collections/{world.collection.pk}/objects/")  # type: ignore[operator]
    feed = sync_services.feed_create(
        name="dead-push",
        partner=world.personas["acme"].user.partner,
        api_root_url="http://127.0.0.1:9/api/",
        remote_collection_id=str(uuid.uuid4()),
        collection=world.collection,
        direction=Feed.PUSH,
    )
    pk = ObjectVersion.objects.get(stix_id=obj["id"]).pk
    recall.record_push(feed=feed, version_pks=[pk], at=ObjectVersion.objects.get(pk=pk).date_added)
    ingest.delete(collection=world.collection, stix_id=obj["id"], version_pks=[pk])
    recall.deliver(RecallDelivery.objects.get().pk)
    made = Recall.objects.get()

    listing = staff.get("/console/recalls/").content.decode()
    assert obj["id"] in listing and "state-pending" in listing
    detail = staff.get(f"/console/recalls/{made.pk}/").content.decode()
    deliveries = detail.split('id="deliveries"')[1].split("</table>")[0]
    assert "dead-push" in deliveries and "pending" in deliveries and "next " in deliveries
    receipts = detail.split('id="receipts"')[1].split("</table>")[0]
    assert "<td>Globex</td><td>pulled (Objects)</td>" in receipts
    assert "<td>Acme</td><td>pushed by dead-push</td>" in receipts
    gone = staff.get(f"/console/objects/{obj['id']}/")
    assert gone.status_code == 302 and gone["Location"] == f"/console/recalls/?id={obj['id']}"
    assert staff.get("/console/recalls/", {"id": "indicator--nothing"}).status_code == 200
