"""A partner page (policy.View.window) is read in batches holding the served JSON
and the columns the rules need; staff pages, and those of rules that the
collection's stored facts say withhold nothing, in one read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intelshare import ingest, policy, services, stix
from intelshare import stixids as ids
from intelshare.models import Collection, Partner
from tests.conftest import World
from tests.factories import indicator, malware


def _version_reads(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "intelshare_objectversion"' in q["sql"]
    ]


@pytest.mark.django_db
def test_a_partner_page_reads_its_objects_and_the_rule_columns_together(
    world: World, taxii: Any
) -> None:
    """One read of the versions holds the served JSON and what the rules check, so
    no version can vanish between deciding and serving (and a page without
    references is one query of versions)."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(6)])
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    with CaptureQueriesContext(connection) as captured:
        body = orjson.loads(taxii("globex").get(path, {"limit": "3"}).content)
    reads = _version_reads(captured)
    assert len(reads) == 1, reads
    assert '"intelshare_objectversion"."raw"' in reads[0]
    assert body["more"] is True
    assert [o["id"] for o in body["objects"]] == [indicator(n)["id"] for n in range(3)]


@pytest.mark.django_db
def test_staff_pages_read_once(world: World, taxii: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff see every version: one read, no candidate step."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(3)])

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("staff pages have no candidate step")

    monkeypatch.setattr(policy.View, "_candidates", fail)
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    body = orjson.loads(taxii("staff").get(path).content)
    assert len(body["objects"]) == 3


@pytest.mark.django_db
def test_rules_that_withhold_nothing_read_pages_as_staff_do(world: World, taxii: Any) -> None:
    """globex may see every stored version (TLP:RED ceiling, the hub's own objects):
    its default page is one read of the stored newest versions, as staff's is."""
    ingest.store(
        collection=world.collection,
        objects=[indicator(n, version=v) for n in range(3) for v in (0, 1)],
    )
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    with CaptureQueriesContext(connection) as captured:
        body = orjson.loads(taxii("globex").get(path).content)
    reads = _version_reads(captured)
    assert len(reads) == 1, reads
    assert '"intelshare_objectversion"."is_latest"' in reads[0]
    assert [(o["id"], o["modified"]) for o in body["objects"]] == [
        (indicator(n, version=1)["id"], indicator(n, version=1)["modified"]) for n in range(3)
    ]


@pytest.mark.django_db
def test_facts_raised_after_the_view_opened_send_the_page_through_every_rule(
    world: World,
) -> None:
    """An ingest between opening a view and reading its page (a TLP:RED malware and
    a TLP:GREEN relationship to it) is seen by the facts read with the page: the
    page goes through every rule and the relationship is withheld."""
    green = [ids.TLP2_GREEN]
    ingest.store(collection=world.collection, objects=[indicator(0, markings=green)])
    partner = Partner.objects.create(name="Initech", slug="initech")
    services.agreement_create(
        partner=partner, name="initech", collections=[world.collection], tlp_ceiling=stix.TLP_GREEN
    )
    now = timezone.now()
    collection = Collection.objects.get(pk=world.collection.pk)
    view = policy.visible(partner=partner, collection=collection, now=now)
    assert view.whole  # GREEN objects only, so far

    dropper = {**malware(1), "object_marking_refs": [ids.TLP2_RED]}
    link = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--6f1b2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "created": "2026-01-02T00:00:00.000Z",
        "modified": "2026-01-02T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": indicator(0)["id"],
        "target_ref": dropper["id"],
        "object_marking_refs": green,
    }
    ingest.store(collection=world.collection, objects=[dropper, link])

    fields = ("raw", *view.redaction_fields)
    rows = view.window(added_after=None, after=None, limit=10, fields=fields)
    served = [orjson.loads(view.render(rows, 2)[i])["id"] for i in range(len(rows))]
    assert served == [indicator(0)["id"]]
    assert view._trace.get("exact")
