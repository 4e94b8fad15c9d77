"""The real taxii2-client 2.3 against a live intelshare server (TAXII 2.1 §4, §5)."""

from __future__ import annotations

from typing import Any

import pytest
from taxii2client.v21 import Collection, Server, as_pages

from tests.factories import PASSWORD, indicator, make_world

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(live_server: Any) -> tuple[str, Any]:
    world = make_world()
    return live_server.url, world


def test_taxii2client_round_trip(live: tuple[str, Any]) -> None:
    """Discovery (§4.1) → API root (§4.2) → collections (§5.1) → add objects and wait
    for the status (§5.5, §4.3) → pull back in pages (§3.5) → manifest (§5.3) and
    versions (§5.8) → delete one version (§5.7)."""
    url, world = live
    user = world.personas["acme"].user.username
    server = Server(f"{url}/taxii2/", user=user, password=PASSWORD)
    assert server.title == "intelshare"
    api_root = server.default
    assert api_root.versions == ["application/taxii+json;version=2.1"]
    collection = next(c for c in api_root.collections if c.alias == "llm-misuse")
    assert collection.can_read and collection.can_write

    objects = [indicator(n) for n in range(25)] + [indicator(0, version=30)]
    status = collection.add_objects(
        {"objects": objects}, wait_for_completion=True, poll_interval=0.1, timeout=30
    )
    assert status.status == "complete"
    assert (status.success_count, status.failure_count) == (26, 0)

    pulled: list[dict[str, Any]] = []
    for envelope in as_pages(collection.get_objects, per_request=4):
        pulled.extend(envelope.get("objects", []))
    assert sorted(o["id"] for o in pulled) == sorted(indicator(n)["id"] for n in range(25))
    assert len(pulled) == 25  # latest versions only (§3.4.1), none twice

    manifest_ids: list[str] = []
    for page in as_pages(collection.get_manifest, per_request=10, version="all"):
        manifest_ids.extend(record["id"] for record in page.get("objects", []))
    assert len(manifest_ids) == 26

    oid = indicator(0)["id"]
    versions = collection.object_versions(oid)["versions"]
    assert versions == [indicator(0)["modified"], indicator(0, version=30)["modified"]]
    collection.delete_object(oid, version=indicator(0, version=30)["modified"])
    remaining = collection.get_object(oid)["objects"]
    assert [o["modified"] for o in remaining] == [indicator(0)["modified"]]

    reader = Collection(
        collection.url, user=world.personas["globex"].user.username, password=PASSWORD
    )
    assert reader.can_read and not reader.can_write
    assert len(reader.get_objects(limit=100)["objects"]) == 25
