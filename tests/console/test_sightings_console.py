"""The console shows partners' sightings beside each object (the hub's roll-up) and
finds "my indicators that hit": a source partner's objects that were sighted."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from intelshare import ingest, services, sightings, stix
from intelshare.models import Partner
from intelshare.stixids import TLP2_GREEN
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


def test_seen_by_partners_beside_objects_and_the_hit_filter(world: World, staff: Client) -> None:
    acme = Partner.objects.get(slug="acme")
    hit, quiet = indicator(1, markings=[TLP2_GREEN]), indicator(2, markings=[TLP2_GREEN])
    ingest.store(collection=world.collection, objects=[hit, quiet], source_partner=acme)
    beta = Partner.objects.create(name="Beta", slug="beta")
    services.agreement_create(
        partner=beta,
        name="beta",
        collections=[world.collection],
        can_write=True,
        tlp_ceiling=stix.TLP_AMBER,
    )
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": "2024-03-01T00:00:00.000Z",
        "modified": "2024-03-01T00:00:00.000Z",
        "sighting_of_ref": hit["id"],
        "count": 4,
        "last_seen": "2024-03-02T00:00:00.000Z",
    }
    assert (
        sightings.store(collection=world.collection, objects=[sighting], source_partner=beta).new
        == 1
    )

    found = staff.get("/console/objects/", {"hit": "1", "source": acme.pk, "type": "indicator"})
    body = found.content.decode()
    assert hit["id"] in body and quiet["id"] not in body
    assert "1 partner<br><small>last 2024-03-02</small>" in body
    page = staff.get(f"/console/objects/{hit['id']}/").content.decode()
    assert "seen by 1 partner (4 times), last seen 2024-03-02T00:00:00.000Z" in page
    assert 'id="seen"' not in staff.get(f"/console/objects/{quiet['id']}/").content.decode()
