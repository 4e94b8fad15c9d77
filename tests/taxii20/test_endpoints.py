"""The TAXII 2.0 face through Django's test client (TAXII 2.0 CS01 §3-§5).

Same storage and the same policy as the 2.1 face: a partner reads the same
collection over 2.0 and 2.1 and gets the same ids, less what STIX 2.0 cannot
express, which is counted in response headers.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.core.cache import cache
from stix2 import parse as stix2_parse

from intelshare import audit, ingest, policy
from intelshare.models import AuditEvent, ObjectVersion, Partner, Status
from tests.factories import World, indicator

from .conftest import STIX_20, TAXII_20, Seeded, Taxii20Client

pytestmark = pytest.mark.django_db


def _coll(world: World, face: str = "taxii20") -> str:
    return f"/{face}/intel/collections/{world.collection.pk}"


def _objects(client: Any, path: str, **headers: str) -> Any:
    return client.get(path, **{"Accept": STIX_20, **headers})


def _ids(response: Any) -> list[str]:
    return [o["id"] for o in orjson.loads(response.content).get("objects", [])]


def test_discovery_lists_api_roots_as_absolute_urls(world: World, taxii20: Any) -> None:
    """§4.1: the 2.0 client builds an API root from each listed URL, so they are absolute."""
    response = taxii20("globex").get("/taxii20/")
    assert response.status_code == 200
    assert response["Content-Type"] == TAXII_20
    body = orjson.loads(response.content)
    assert body["api_roots"] == ["http://testserver/taxii20/intel/"]
    assert body["default"] == "http://testserver/taxii20/intel/"
    root = orjson.loads(taxii20("globex").get("/taxii20/intel/").content)
    assert root["versions"] == ["taxii-2.0"]
    assert root["max_content_length"] == world.api_root.max_content_length


@pytest.mark.parametrize("name", ["acme", "globex", "mallory", "staff"])
def test_collections_are_those_of_the_21_face(
    world: World, taxii: Any, taxii20: Any, name: str
) -> None:
    """§5.1: the same collections, rights and ids as /taxii2/ (policy.collections)."""
    over20 = orjson.loads(taxii20(name).get("/taxii20/intel/collections/").content)
    over21 = orjson.loads(taxii(name).get("/taxii2/intel/collections/").content)
    assert [(c["id"], c["can_read"], c["can_write"]) for c in over20.get("collections", [])] == [
        (c["id"], c["can_read"], c["can_write"]) for c in over21.get("collections", [])
    ]
    for collection in over20.get("collections", []):
        assert collection["media_types"] == [STIX_20]


def test_objects_are_a_stix20_bundle(world: World, seeded: Seeded, taxii20: Any) -> None:
    """§5.3: a STIX 2.0 bundle; objects without spec_version, 2.1-only properties
    dropped and counted, what 2.0 cannot express skipped and counted."""
    response = _objects(taxii20("staff"), f"{_coll(world)}/objects/")
    assert response.status_code == 200
    assert response["Content-Type"] == STIX_20
    bundle = orjson.loads(response.content)
    assert bundle["type"] == "bundle" and bundle["spec_version"] == "2.0"
    assert bundle["id"].startswith("bundle--")
    ids = [o["id"] for o in bundle["objects"]]
    assert seeded.note not in ids  # a 2.1-only type is not even an item
    assert seeded.sigma not in ids and seeded.amber_strict not in ids
    assert response["X-Intelshare-Stix20-Skipped"] == "2"  # sigma and amber+strict
    # confidence x6, pattern_type x9 (indicators), is_family, malware_types
    assert int(response["X-Intelshare-Stix20-Dropped-Properties"]) >= 17
    for obj in bundle["objects"]:
        assert "spec_version" not in obj
        stix2_parse(obj, allow_custom=False, version="2.0")  # valid STIX 2.0
    by_id = {o["id"]: o for o in bundle["objects"]}
    assert by_id[seeded.green[0]]["object_marking_refs"] == [
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
    ]  # TLP 1.0 GREEN
    assert by_id[seeded.malware]["labels"] == ["dropper"]
    assert by_id[seeded.identity]["identity_class"] == "unknown"


@pytest.mark.parametrize("name", ["acme", "globex", "initech", "staff"])
def test_same_ids_over_20_and_21(
    world: World, seeded: Seeded, greenpartner: Any, taxii: Any, taxii20: Any, name: str
) -> None:
    """The policy is the same function on both faces: each persona's ids over 2.0
    are its ids over 2.1 less what STIX 2.0 cannot express; a TLP:RED object is
    hidden from the green partner on both, as absent (404) by id."""
    over21 = _ids(taxii(name).get(f"{_coll(world, 'taxii2')}/objects/"))
    over20 = _ids(_objects(taxii20(name), f"{_coll(world)}/objects/"))
    assert over20 == [i for i in over21 if i not in seeded.skipped]
    manifest = orjson.loads(taxii20(name).get(f"{_coll(world)}/manifest/").content)
    assert [e["id"] for e in manifest["objects"]] == over20
    red = _objects(taxii20(name), f"{_coll(world)}/objects/{seeded.red}/")
    if name == "initech":
        assert seeded.red not in over20 and seeded.green[0] in over20
        assert red.status_code == 404
        assert red["Content-Type"] == TAXII_20
        assert orjson.loads(red.content)["http_status"] == "404"
    else:
        assert seeded.red in over20
        assert _ids(red) == [seeded.red]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (STIX_20, 200),
        ("application/vnd.oasis.stix+json", 200),
        ("*/*", 200),
        ("application/vnd.oasis.stix+json; version=2.1", 406),
        ("application/stix+json;version=2.1", 406),
        (TAXII_20, 406),  # Get Objects answers a bundle, not a TAXII resource
        ("application/taxii+json;version=2.1", 406),
    ],
)
def test_objects_accept(world: World, taxii20: Any, accept: str, status: int) -> None:
    """§1.4 / §5.3: the Accept header must admit a STIX 2.0 bundle, else 406."""
    response = taxii20("globex").get(f"{_coll(world)}/objects/", Accept=accept)
    assert response.status_code == status
    if status == 406:
        assert response["Content-Type"] == TAXII_20
        body = orjson.loads(response.content)
        assert body["title"] == "Not Acceptable" and body["error_id"]


@pytest.mark.parametrize(
    ("accept", "status"),
    [(TAXII_20, 200), ("application/taxii+json;version=2.1", 406), (STIX_20, 406)],
)
def test_resources_accept(world: World, taxii20: Any, accept: str, status: int) -> None:
    """§1.4: TAXII resources are served as the TAXII 2.0 media type only."""
    for path in ("/taxii20/", "/taxii20/intel/collections/", f"{_coll(world)}/manifest/"):
        assert taxii20("globex").get(path, Accept=accept).status_code == status


@pytest.mark.parametrize(
    "content_type",
    [
        "application/taxii+json;version=2.1",
        "application/stix+json;version=2.1",
        "application/vnd.oasis.stix+json; version=2.1",
        "text/plain",
    ],
)
def test_post_refuses_other_media_types(world: World, taxii20: Any, content_type: str) -> None:
    """§5.4: a body that is not declared a STIX 2.0 bundle is a 415; nothing stored."""
    body = orjson.dumps(
        {
            "type": "bundle",
            "id": "bundle--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
            "spec_version": "2.0",
            "objects": [indicator(3)],
        }
    )
    response = taxii20("acme").post(f"{_coll(world)}/objects/", body, content_type=content_type)
    assert response.status_code == 415
    assert response["Content-Type"] == TAXII_20
    assert not ObjectVersion.objects.exists()


def _green_walk(world: World, count: int) -> list[str]:
    objects = [indicator(100 + n) for n in range(count)]
    ingest.store(collection=world.collection, objects=objects)
    return [o["id"] for o in objects]


def test_range_pages_and_content_range(world: World, taxii20: Any) -> None:
    """§3.4.3: Range: items a-b → 206 with Content-Range items a-b/total, the total
    once the page reaches the end (``*`` before: it is not counted); the pages
    concatenate to the unpaged answer."""
    ids = _green_walk(world, 12)
    client, path = taxii20("globex"), f"{_coll(world)}/objects/"
    whole = _objects(client, path)
    assert whole.status_code == 200 and whole["Content-Range"] == "items 0-11/12"
    assert _ids(whole) == ids
    walked = []
    for first, expected in [(0, "items 0-4/*"), (5, "items 5-9/*"), (10, "items 10-11/12")]:
        page = _objects(client, path, Range=f"items {first}-{first + 4}")
        assert page.status_code == 206
        assert page["Content-Range"] == expected
        assert page["X-TAXII-Date-Added-First"] <= page["X-TAXII-Date-Added-Last"]
        walked += _ids(page)
    assert walked == ids
    # taxii2client's first form (RFC 7233 "items=a-b") is the same range.
    assert _ids(_objects(client, path, Range="items=5-9")) == ids[5:10]
    assert _objects(client, path, Range="items 0-11")["Content-Range"] == "items 0-11/12"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("items 12-20", 416),
        ("items 40-41", 416),
        ("items 5-2", 400),
        ("bytes=0-5", 400),
        ("items a-b", 400),
        ("items 0-1,4-5", 400),
        ("items -5", 400),
    ],
)
def test_bad_range(world: World, taxii20: Any, header: str, status: int) -> None:
    """A range past the last item is 416 with ``Content-Range: items */total``; a
    Range that is not ``items a-b`` with a <= b is 400."""
    _green_walk(world, 12)
    response = _objects(taxii20("globex"), f"{_coll(world)}/objects/", Range=header)
    assert response.status_code == status
    assert response["Content-Type"] == TAXII_20
    if status == 416:
        assert response["Content-Range"] == "items */12"


def test_empty_collection_is_200_without_items(world: World, taxii20: Any) -> None:
    response = _objects(taxii20("globex"), f"{_coll(world)}/objects/", Range="items 0-9")
    assert response.status_code == 200
    assert response["Content-Range"] == "items */0"
    assert "objects" not in orjson.loads(response.content)


def test_filters(world: World, seeded: Seeded, taxii20: Any) -> None:
    """§3.4.2: added_after, match[id], match[type], match[version] as on the 2.1 face."""
    client, path = taxii20("globex"), f"{_coll(world)}/objects/"
    assert _ids(client.get(path, {"match[type]": "malware"}, Accept=STIX_20)) == [seeded.malware]
    two = f"{seeded.green[1]},{seeded.green[3]}"
    assert _ids(client.get(path, {"match[id]": two}, Accept=STIX_20)) == [
        seeded.green[1],
        seeded.green[3],
    ]
    versions = client.get(
        path, {"match[id]": seeded.updated, "match[version]": "all"}, Accept=STIX_20
    )
    assert [o["modified"] for o in orjson.loads(versions.content)["objects"]] == [
        indicator(30)["modified"],
        indicator(30, version=5)["modified"],
    ]
    first = client.get(
        path, {"match[id]": seeded.updated, "match[version]": "first"}, Accept=STIX_20
    )
    assert [o["modified"] for o in orjson.loads(first.content)["objects"]] == [
        indicator(30)["modified"]
    ]
    page = _objects(client, path, Range="items 0-1")
    later = client.get(path, {"added_after": page["X-TAXII-Date-Added-Last"]}, Accept=STIX_20)
    assert _ids(later) == _ids(_objects(client, path))[2:]
    bad = client.get(path, {"added_after": "yesterday"}, Accept=STIX_20)
    assert bad.status_code == 400 and bad["Content-Type"] == TAXII_20


def test_manifest(world: World, seeded: Seeded, taxii20: Any) -> None:
    """§5.6: one entry per object with its versions and the 2.0 media type; Range too."""
    client, path = taxii20("globex"), f"{_coll(world)}/manifest/"
    response = client.get(path, {"match[version]": "all", "match[id]": seeded.updated})
    assert response["Content-Type"] == TAXII_20
    (entry,) = orjson.loads(response.content)["objects"]
    assert entry["versions"] == [indicator(30)["modified"], indicator(30, version=5)["modified"]]
    assert entry["media_types"] == [STIX_20]
    assert set(entry) == {"id", "date_added", "versions", "media_types"}
    paged = client.get(path, Range="items 0-2")
    assert paged.status_code == 206 and paged["Content-Range"] == "items 0-2/*"
    assert len(orjson.loads(paged.content)["objects"]) == 3


def test_object_by_id(world: World, seeded: Seeded, taxii20: Any) -> None:
    """§5.5: a bundle of the object's (latest, by default) version; absent, hidden
    and 2.1-only objects are 404 alike."""
    client, path = taxii20("globex"), f"{_coll(world)}/objects"
    latest = _objects(client, f"{path}/{seeded.updated}/")
    assert [o["modified"] for o in orjson.loads(latest.content)["objects"]] == [
        indicator(30, version=5)["modified"]
    ]
    every = client.get(f"{path}/{seeded.updated}/", {"match[version]": "all"}, Accept=STIX_20)
    assert len(_ids(every)) == 2
    for missing in (seeded.note, indicator(999)["id"], "not-an-id"):
        assert _objects(client, f"{path}/{missing}/").status_code == 404
    skipped = _objects(client, f"{path}/{seeded.sigma}/")
    assert skipped.status_code == 200 and not _ids(skipped)
    assert skipped["X-Intelshare-Stix20-Skipped"] == "1"


def test_post_bundle_up_converts_and_reads_back(world: World, taxii20: Any) -> None:
    """§5.4: a STIX 2.0 bundle → 202 with a 2.0 status (§4.3.1: successes are ids);
    objects are stored as STIX 2.1 through ingest and read back as they were sent."""
    sent = {
        "type": "indicator",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "labels": ["malicious-activity"],
        "name": "SYNTHETIC 2.0 indicator",
        "pattern": "[url:value = 'http://x.example/']",
        "valid_from": "2016-01-01T00:00:00Z",
    }
    family = {
        "type": "malware",
        "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        "created": "2016-04-06T20:07:09.000Z",
        "modified": "2016-04-06T20:07:09.000Z",
        "name": "SYNTHETIC Poison Ivy",
        "labels": ["remote-access-trojan"],
    }
    broken = {"type": "indicator", "id": "indicator--nope", "created": "2016-01-01T00:00:00Z"}
    bundle = {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "spec_version": "2.0",
        "objects": [sent, family, broken],
    }
    client, path = taxii20("acme"), f"{_coll(world)}/objects/"
    response = client.post(path, orjson.dumps(bundle), content_type=STIX_20)
    assert response.status_code == 202 and response["Content-Type"] == TAXII_20
    status = orjson.loads(response.content)
    assert status["status"] == "complete"
    assert (status["total_count"], status["success_count"], status["failure_count"]) == (3, 2, 1)
    assert status["successes"] == [sent["id"], family["id"]]
    assert status["failures"][0]["id"] == "indicator--nope" and status["failures"][0]["message"]
    again = client.get(f"/taxii20/intel/status/{status['id']}/")
    assert orjson.loads(again.content) == status
    assert taxii20("globex").get(f"/taxii20/intel/status/{status['id']}/").status_code == 404
    stored = orjson.loads(policy.catalogue(collection=world.collection).get(stix_id=sent["id"]).raw)
    assert (stored["spec_version"], stored["pattern_type"]) == ("2.1", "stix")
    assert _objects(client, f"{path}{sent['id']}/").status_code == 200
    served = {o["id"]: o for o in orjson.loads(_objects(client, path).content)["objects"]}
    assert served[sent["id"]] == sent and served[family["id"]] == family


def test_post_needs_a_bundle_and_write(world: World, taxii20: Any) -> None:
    path = f"{_coll(world)}/objects/"
    envelope = orjson.dumps({"objects": [indicator(1)]})  # a 2.1 envelope, not a bundle
    assert taxii20("acme").post(path, envelope, content_type=STIX_20).status_code == 422
    bundle = orjson.dumps({"type": "bundle", "objects": [indicator(1)]})
    assert taxii20("globex").post(path, bundle, content_type=STIX_20).status_code == 403
    assert taxii20("mallory").post(path, bundle, content_type=STIX_20).status_code == 404


def test_reads_are_audited_and_received(world: World, seeded: Seeded, taxii20: Any) -> None:
    """A 2.0 read leaves an audit event naming the versions served (not those skipped),
    and counts as received, 206 pages included."""
    response = _objects(taxii20("globex"), f"{_coll(world)}/objects/", Range="items 0-2")
    assert response.status_code == 206
    event = AuditEvent.objects.get(endpoint="Objects20")
    assert event.status_code == 206 and len(audit.keys(event.versions)) == 3
    globex = Partner.objects.get(slug="globex")
    receipts = audit.received(partner=globex, stix_id=seeded.green[0])
    assert [r.endpoint for r in receipts] == ["Objects20"]


def test_unauthenticated_is_401(world: World) -> None:
    response = Taxii20Client(None).get("/taxii20/")
    assert response.status_code == 401
    assert response["Content-Type"] == TAXII_20


def test_next_page_continues_where_the_last_ended(world: World, taxii20: Any) -> None:
    """A page remembers where the next one starts, so a sequential reader misses nothing
    when an object it already read gets a new version (which moves it to the end of
    the stream and every later item one position back). Without the remembered
    position the offset is counted afresh, as TAXII 2.0 defines it."""
    ids = _green_walk(world, 10)
    client, path = taxii20("globex"), f"{_coll(world)}/objects/"
    first = _ids(_objects(client, path, Range="items 0-4"))
    ingest.store(collection=world.collection, objects=[indicator(101, version=1)])
    second = _ids(_objects(client, path, Range="items 5-9"))
    assert first + second == ids
    assert _ids(_objects(client, path, Range="items 10-14")) == [ids[1]]  # its new version
    cache.clear()
    assert _ids(_objects(client, path, Range="items 5-9")) == [*ids[6:], ids[1]]


PERSONAS = ["acme", "globex", "mallory", "staff", None]
ENDPOINTS: list[tuple[str, str, str, dict[str | None, int]]] = [
    # name, method, Accept, expected status per persona (STYLE.md §9, as for 2.1)
    (
        "discovery",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401},
    ),
    (
        "api-root",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401},
    ),
    (
        "status",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 404, "mallory": 404, "staff": 200, None: 401},
    ),
    (
        "collections",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401},
    ),
    (
        "collection",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401},
    ),
    (
        "manifest",
        "GET",
        TAXII_20,
        {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401},
    ),
    (
        "objects",
        "GET",
        STIX_20,
        {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401},
    ),
    (
        "objects",
        "POST",
        TAXII_20,
        {"acme": 202, "globex": 403, "mallory": 404, "staff": 202, None: 401},
    ),
    (
        "object",
        "GET",
        STIX_20,
        {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401},
    ),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("name", "method", "accept", "expected"), ENDPOINTS, ids=[f"{e[0]}-{e[1]}" for e in ENDPOINTS]
)
def test_every_endpoint_for_every_persona(
    world: World,
    taxii20: Any,
    name: str,
    method: str,
    accept: str,
    expected: dict[str | None, int],
    persona: str | None,
) -> None:
    """A collection without a grant does not exist for a partner (404); a status is
    its submitter's; every answer, errors included, carries a 2.0 media type."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    acme = world.personas["acme"].user
    status = Status.objects.create(
        collection=world.collection,
        partner=acme.partner,
        user=acme,
        status=Status.COMPLETE,
        request_timestamp=world.collection.created,
        total_count=0,
    )
    coll = _coll(world)
    path = {
        "discovery": "/taxii20/",
        "api-root": "/taxii20/intel/",
        "status": f"/taxii20/intel/status/{status.pk}/",
        "collections": "/taxii20/intel/collections/",
        "collection": f"{coll}/",
        "manifest": f"{coll}/manifest/",
        "objects": f"{coll}/objects/",
        "object": f"{coll}/objects/{indicator(1)['id']}/",
    }[name]
    client = taxii20(persona)
    if method == "POST":
        bundle = orjson.dumps({"type": "bundle", "objects": [indicator(2)]})
        response = client.post(path, bundle, content_type=STIX_20, Accept=accept)
    else:
        response = client.get(path, Accept=accept)
    assert response.status_code == expected[persona]
    assert response["Content-Type"] in (TAXII_20, STIX_20)
