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


def test_keys_are_stored_as_runs_and_read_back() -> None:
    assert audit.runs([]) == []
    assert audit.runs([7]) == [7]
    assert audit.runs([5, 3, 4, 9, 11, 10, 20]) == [[3, 5], [9, 11], 20]
    assert audit.runs(range(1000, 2000)) == [[1000, 1999]]
    assert audit.keys([[3, 5], [9, 11], 20]) == [3, 4, 5, 9, 10, 11, 20]
    assert audit.keys([1, 2, 3]) == [1, 2, 3]  # older events: plain keys
    assert audit.keys(audit.runs([8, 1, 2, 6])) == [1, 2, 6, 8]


def test_events_carrying_a_key_inside_a_run_or_alone(world: World, taxii: Any) -> None:
    """A page of several consecutive versions is stored as one run; the lookup
    ("which events served version V") finds each of them, and plain keys of older
    events or the sync app's still match."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(4)])
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    assert taxii("globex").get(path).status_code == 200
    event = AuditEvent.objects.latest("pk")
    pks = sorted(ObjectVersion.objects.values_list("pk", flat=True))
    assert event.versions == [[pks[0], pks[-1]]]
    for pk in pks:
        assert list(audit.carrying([pk]).values_list("pk", flat=True)) == [event.pk]
    assert not audit.carrying([pks[-1] + 1]).exists()
    AuditEvent.objects.filter(pk=event.pk).update(versions=[pks[1]])  # a plain key
    assert list(audit.carrying([pks[1], 10**9]).values_list("pk", flat=True)) == [event.pk]
    assert not audit.carrying([pks[0]]).exists()
