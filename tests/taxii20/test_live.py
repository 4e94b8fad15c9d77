"""taxii2-client's ``v20`` module against a live hub (TAXII 2.0 CS01 §3.4.3, §4, §5),
and the hub's own sync client pulling from its 2.0 face."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from taxii2client import v20, v21

from intelshare import ingest, stix
from intelshare import services as hub
from intelshare import stixids as ids
from intelshare.models import Agreement, ObjectVersion
from sync import pull, runs, services
from sync.models import Feed, SyncRun
from tests.factories import PASSWORD, TLP2_GREEN, World, indicator, make_world

from .conftest import Seeded, seed

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(live_server: Any) -> tuple[str, World, Seeded]:
    world = make_world()
    return live_server.url, world, seed(world)


def _collection(url: str, world: World, persona: str, module: Any = v20) -> Any:
    base = "taxii20" if module is v20 else "taxii2"
    return module.Collection(
        f"{url}/{base}/intel/collections/{world.collection.pk}/",
        user=world.personas[persona].user.username,
        password=PASSWORD,
    )


def _walk20(collection: v20.Collection, per_request: int, **filters: Any) -> list[str]:
    ids: list[str] = []
    for bundle in v20.as_pages(collection.get_objects, per_request=per_request, **filters):
        assert bundle["type"] == "bundle" and bundle["spec_version"] == "2.0"
        ids.extend(o["id"] for o in bundle.get("objects", []))
    return ids


def test_taxii2client_v20_round_trip(live: tuple[str, World, Seeded]) -> None:
    """Discovery (§4.1) → API root (§4.2) → collections (§5.1) → add a bundle and wait
    for the status (§5.4, §4.3) → objects in Range pages (§3.4.3, §5.3) → manifest
    (§5.6) → an object (§5.5); the ids are the 2.1 face's, less what 2.0 cannot say."""
    url, world, seeded = live
    user = world.personas["acme"].user.username
    server = v20.Server(f"{url}/taxii20/", user=user, password=PASSWORD)
    assert server.title == "intelshare"
    api_root = server.default
    assert api_root.versions == ["taxii-2.0"]
    collection = next(c for c in api_root.collections if c.id == str(world.collection.pk))
    assert collection.can_read and collection.can_write

    added = [indicator(200 + n, markings=[ids.TLP1_GREEN]) for n in range(7)]
    for obj in added:
        del obj["spec_version"], obj["pattern_type"]  # as a STIX 2.0 tool writes them
        obj["labels"] = ["malicious-activity"]
    status = collection.add_objects(
        {
            "type": "bundle",
            "spec_version": "2.0",
            "id": "bundle--6b8c2a14-4a3e-4b6c-9d2f-1a2b3c4d5e6f",
            "objects": added,
        },
        wait_for_completion=True,
        poll_interval=0.1,
        timeout=30,
    )
    assert status.status == "complete" and status.success_count == 7
    assert status.successes == [o["id"] for o in added]
    assert api_root.get_status(status.id).success_count == 7

    over21 = [
        o["id"] for o in _collection(url, world, "acme", v21).get_objects(limit=1000)["objects"]
    ]
    expected = [i for i in over21 if i not in seeded.skipped]
    assert _walk20(collection, per_request=4) == expected
    assert _walk20(collection, per_request=1000) == expected
    assert _walk20(collection, per_request=3, type="indicator") == [
        i for i in expected if i.startswith("indicator--")
    ]

    manifest: list[str] = []
    for page in v20.as_pages(collection.get_manifest, per_request=5, version="all"):
        manifest.extend(entry["id"] for entry in page.get("objects", []))
    assert sorted(set(manifest)) == sorted(expected)

    got = collection.get_object(added[0]["id"])
    assert got["objects"] == [added[0]]  # read back as it was sent


@pytest.mark.parametrize("persona", ["globex", "staff"])
def test_green_partner_sees_the_same_over_both_faces(
    live: tuple[str, World, Seeded], persona: str
) -> None:
    """The same policy function: a partner limited to TLP:GREEN reads the same ids over
    2.0 as over 2.1 (less the 2.0-inexpressible), TLP:RED never; others see it."""
    url, world, seeded = live
    if persona == "globex":
        hub.agreement_update(
            agreement=Agreement.objects.get(name="globex"), tlp_ceiling=stix.TLP_GREEN
        )
    over21 = [
        o["id"]
        for o in _collection(url, world, persona, v21).get_objects(limit=1000).get("objects", [])
    ]
    over20 = _walk20(_collection(url, world, persona), per_request=2)
    assert over20 == [i for i in over21 if i not in seeded.skipped]
    assert (seeded.red in over20) is (persona == "staff")
    assert set(seeded.green) <= set(over20)


def test_sync_pulls_from_the_hubs_own_20_face(
    live: tuple[str, World, Seeded], monkeypatch: pytest.MonkeyPatch
) -> None:
    """sync.client's TAXII 2.0 path (Range pages, Content-Range) pulls the green
    partner's view of one collection over 2.0 into another collection, through ingest:
    the same ids, stored as STIX 2.1, nothing quarantined; a second run adds only
    what is new."""
    url, world, seeded = live
    # The sync client keeps its HTTP connection alive; the live server's thread for it
    # would keep a database session past the test (test database teardown warns).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    hub.agreement_update(agreement=Agreement.objects.get(name="globex"), tlp_ceiling=stix.TLP_GREEN)
    reader = world.personas["globex"]
    feed = services.feed_create(
        name="own-20-face",
        partner=reader.user.partner,
        direction=Feed.PULL,
        taxii_version="2.0",
        api_root_url=f"{url}/taxii20/intel/",
        remote_collection_id=str(world.collection.pk),
        auth_type=Feed.AUTH_BASIC,
        username=reader.user.username,
        secret=PASSWORD,
        collection=world.other,
        page_size=3,
    )
    result = pull.run(feed_id=feed.pk, owner=runs.new_owner())
    assert result.run is not None
    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.error == "", run.error
    # A pull feed mirrors every version (match[version]=all), so compare with all.
    over20 = _walk20(_collection(url, world, "globex"), per_request=100, version="all")
    pulled = ObjectVersion.objects.filter(collection=world.other)
    assert sorted(pulled.values_list("stix_id", flat=True)) == sorted(over20)
    assert set(pulled.values_list("spec_version", flat=True)) == {"2.1"}
    assert seeded.red not in over20
    assert (run.quarantined, run.stored, run.fetched) == (0, len(over20), len(over20))
    # Items are the green view's 11 versions: 10 served, the sigma indicator skipped
    # on its page; the client advances by Content-Range, so nothing is read twice.
    assert len(over20) == 10
    assert run.pages == 4

    ingest.store(collection=world.collection, objects=[indicator(300, markings=[TLP2_GREEN])])
    pull.run(feed_id=feed.pk, owner=runs.new_owner())
    latest = SyncRun.objects.filter(feed=feed).latest("pk")
    assert latest.stored == 1 and latest.quarantined == 0
    assert pulled.filter(stix_id=indicator(300)["id"]).exists()
