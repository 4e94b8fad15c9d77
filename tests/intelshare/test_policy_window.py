"""A partner page (policy.View.window) is read in batches holding the served JSON
and the columns the rules need; staff pages in one read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from intelshare import ingest, policy
from tests.conftest import World
from tests.factories import indicator


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
    reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "intelshare_objectversion"' in q["sql"]
    ]
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
