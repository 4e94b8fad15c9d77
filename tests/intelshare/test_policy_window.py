"""A partner page is read in two steps (policy.View.window): the candidates with
the columns the rules need, then the JSON of the rows kept, by primary key."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from intelshare import ingest, policy
from intelshare.models import ObjectVersion
from tests.conftest import World
from tests.factories import indicator


@pytest.mark.django_db
def test_a_version_deleted_between_the_two_reads_does_not_cut_the_page(
    world: World, taxii: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deleted version is left out and the window read again, so the page still
    holds ``limit`` objects and ``more`` stays true (TAXII 2.1 §3.4)."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(6)])
    original = policy.View._candidates
    reads: list[int] = []

    def candidates(self: policy.View, *args: Any, **kwargs: Any) -> list[policy.Row]:
        rows = original(self, *args, **kwargs)
        reads.append(len(rows))
        if len(reads) == 1:
            ObjectVersion.objects.filter(pk=rows[1][0]).delete()
        return rows

    monkeypatch.setattr(policy.View, "_candidates", candidates)
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    body = orjson.loads(taxii("globex").get(path, {"limit": "3"}).content)
    assert reads == [4, 4]  # limit + 1 rows, twice
    assert body["more"] is True
    assert [o["id"] for o in body["objects"]] == [indicator(n)["id"] for n in (0, 2, 3)]


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
