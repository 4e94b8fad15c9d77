"""Audit: every TAXII request leaves an event; who received which versions, and when."""

from __future__ import annotations

from typing import Any

import orjson

from intelshare import audit, ingest
from intelshare.models import AuditEvent, ObjectVersion
from tests.conftest import TaxiiClient
from tests.factories import World, indicator


def test_pages_record_partner_filters_and_versions(world: World, taxii: Any) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1), indicator(2)])
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    response = taxii("globex", bearer=True).get(path, {"limit": "1", "match[type]": "indicator"})
    assert response.status_code == 200
    event = AuditEvent.objects.latest("pk")
    globex = world.personas["globex"].user
    assert (
        event.partner_id,
        event.user_id,
        event.method,
        event.endpoint,
        event.status_code,
        event.count,
    ) == (globex.partner_id, globex.pk, "GET", "Objects", 200, 1)
    assert event.token is not None and event.collection_id == world.collection.pk
    assert event.filters == {"limit": "1", "match[type]": "indicator"}
    served = orjson.loads(response.content)["objects"][0]
    assert event.versions == [ObjectVersion.objects.get(stix_id=served["id"]).pk]
    receipts = audit.received(partner=globex.partner, stix_id=served["id"])
    assert [(r.version, r.endpoint) for r in receipts] == [(served["modified"], "Objects")]
    assert audit.received(partner=world.personas["acme"].user.partner, stix_id=served["id"]) == []


def test_errors_and_writes_are_audited(world: World, taxii: Any) -> None:
    TaxiiClient(None).get("/taxii2/")
    anonymous = AuditEvent.objects.latest("pk")
    assert (anonymous.user_id, anonymous.status_code) == (None, 401)
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    status = orjson.loads(
        taxii("acme").post(path, orjson.dumps({"objects": [indicator(3), indicator(4)]})).content
    )
    write = AuditEvent.objects.latest("pk")
    assert (write.method, write.status_code, write.count) == ("POST", 202, 2)
    assert write.filters == {"status": status["id"]}
    taxii("mallory").get(path)
    assert AuditEvent.objects.latest("pk").status_code == 404
