"""Sightings over a live server with the real taxii2-client: two partners POST
sightings of an indicator (TAXII 2.1 §5.5), a third pulls the hub's roll-up with
``added_after`` (§3.4.1) like anything else, and learns neither sender."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from taxii2client.v21 import Collection, as_pages

from intelshare import ingest, services, sightings, stix
from intelshare.models import Agreement, ObjectVersion, Partner
from intelshare.stixids import HUB_IDENTITY_ID, TLP2_GREEN
from tests.factories import PASSWORD, indicator, make_user, make_world

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _sighting(n: int, of: str, count: int) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.UUID(int=7000 + n, version=4)}",
        "created": "2024-03-01T00:00:00.000Z",
        "modified": "2024-03-01T00:00:00.000Z",
        "sighting_of_ref": of,
        "count": count,
        "last_seen": f"2024-03-0{n}T00:00:00.000Z",
        "where_sighted_refs": [f"identity--{uuid.UUID(int=8000 + n, version=4)}"],
        "object_marking_refs": [TLP2_GREEN],
    }


def _collection(url: str, world: Any, username: str) -> Collection:
    return Collection(
        f"{url}/taxii2/intel/collections/{world.collection.pk}/", user=username, password=PASSWORD
    )


def test_two_partners_sight_an_indicator_and_a_third_pulls_the_rollup(live_server: Any) -> None:
    world = make_world()
    target = indicator(1, markings=[TLP2_GREEN])
    ingest.store(
        collection=world.collection,
        objects=[target],
        source_partner=Partner.objects.get(slug="acme"),
    )
    senders = {}
    for n, (slug, mode) in enumerate(
        (("beta", Agreement.NAMED), ("gamma", Agreement.ANONYMOUS)), start=1
    ):
        partner = Partner.objects.create(name=slug.title(), slug=slug)
        services.agreement_create(
            partner=partner,
            name=slug,
            collections=[world.collection],
            can_write=True,
            tlp_ceiling=stix.TLP_AMBER,
            sightings=mode,
        )
        senders[slug] = (make_user(f"{slug}-analyst", partner=partner).user.username, n)
    reader = _collection(live_server.url, world, world.personas["globex"].user.username)
    stored = ObjectVersion.objects.get(stix_id=target["id"]).date_added
    mark = stix.format_timestamp(stored)  # what the reader had pulled before

    for username, n in senders.values():
        status = _collection(live_server.url, world, username).add_objects(
            {"objects": [_sighting(n, target["id"], count=10 * n)]},
            wait_for_completion=True,
            poll_interval=0.1,
            timeout=30,
        )
        assert (status.status, status.success_count, status.failure_count) == ("complete", 1, 0)

    pulled: list[dict[str, Any]] = []
    for envelope in as_pages(reader.get_objects, per_request=10, added_after=mark):
        pulled.extend(envelope.get("objects", []))
    rid = sightings.rollup_id(world.collection, target["id"])
    assert [o["id"] for o in pulled] == [rid]  # no partner's own sighting
    rollup = pulled[0]
    assert rollup["count"] == 30 and rollup[sightings.PARTNERS_PROPERTY] == 2
    assert rollup["created_by_ref"] == HUB_IDENTITY_ID and "where_sighted_refs" not in rollup
    assert rollup["last_seen"] == "2024-03-02T00:00:00.000Z"

    originator = _collection(live_server.url, world, world.personas["acme"].user.username)
    received = {o["id"] for o in originator.get_objects(type="sighting")["objects"]}
    assert received == {rid, _sighting(1, target["id"], 10)["id"]}  # beta's, by name
