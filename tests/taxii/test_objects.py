"""Get Objects, Get an Object, Versions, Manifest, Delete: filters and pagination.

Each test names the TAXII 2.1 section it checks.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from intelshare import ingest
from intelshare.models import ObjectVersion
from tests.factories import World, indicator, malware


@pytest.fixture
def coll(world: World) -> str:
    return f"/taxii2/intel/collections/{world.collection.pk}"


def _body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return orjson.loads(response.content)


def _pull_all(client: Any, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Follow ``next`` to the end (§3.5), collecting objects."""
    seen: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(1000):
        body = _body(client.get(path, query))
        seen.extend(body.get("objects", []))
        if not body.get("more"):
            return seen
        query = {**params, "next": body["next"]}
    raise AssertionError("pagination did not end")


def test_objects_default_is_latest_version_oldest_first(
    world: World, taxii: Any, coll: str
) -> None:
    """§3.4.1: without match[version] only the latest version; §3.3 sorted by date_added."""
    ingest.store(collection=world.collection, objects=[indicator(1), indicator(2)])
    ingest.store(collection=world.collection, objects=[indicator(1, version=5)])
    body = _body(taxii("globex").get(f"{coll}/objects/"))
    assert [(o["id"], o["modified"]) for o in body["objects"]] == [
        (indicator(2)["id"], indicator(2)["modified"]),
        (indicator(1)["id"], indicator(1, version=5)["modified"]),
    ]
    assert body["more"] is False


def test_objects_pagination_follows_next_exactly(world: World, taxii: Any, coll: str) -> None:
    """§3.5: with limit, more/next walk every object once; §3.4 limit is honoured."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(23)])
    client = taxii("globex")
    first = _body(client.get(f"{coll}/objects/", {"limit": "5"}))
    assert len(first["objects"]) == 5 and first["more"] is True and first["next"]
    objects = _pull_all(client, f"{coll}/objects/", {"limit": "5"})
    assert [o["id"] for o in objects] == [indicator(n)["id"] for n in range(23)]


def test_date_added_headers_match_first_and_last(world: World, taxii: Any, coll: str) -> None:
    """§3.2: X-TAXII-Date-Added-First/Last are the page's first and last date_added."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(4)])
    response = taxii("globex").get(f"{coll}/objects/", {"limit": "2"})
    manifest = _body(taxii("globex").get(f"{coll}/manifest/", {"limit": "2"}))
    assert response["X-TAXII-Date-Added-First"] == manifest["objects"][0]["date_added"]
    assert response["X-TAXII-Date-Added-Last"] == manifest["objects"][1]["date_added"]
    # microsecond precision, UTC, Z (§2 timestamp)
    assert len(response["X-TAXII-Date-Added-Last"]) == len("2024-01-01T00:00:00.000000Z")


def test_added_after_resume_from_header_skips_nothing(world: World, taxii: Any, coll: str) -> None:
    """§3.5: a client may page with added_after = X-TAXII-Date-Added-Last."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(7)])
    client = taxii("globex")
    ids: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        response = client.get(f"{coll}/objects/", params)
        body = _body(response)
        if not body.get("objects"):
            break
        ids += [o["id"] for o in body["objects"]]
        params = {"limit": "3", "added_after": response["X-TAXII-Date-Added-Last"]}
    assert ids == [indicator(n)["id"] for n in range(7)]


def test_empty_result_is_empty_envelope_without_headers(
    world: World, taxii: Any, coll: str
) -> None:
    """§5.4: no objects → 200 and an empty envelope; headers omitted."""
    response = taxii("globex").get(f"{coll}/objects/")
    assert _body(response) == {}
    assert "X-TAXII-Date-Added-First" not in response


def test_match_type_id_and_spec_version(world: World, taxii: Any, coll: str) -> None:
    """§3.4.1: match[type], match[id] (comma lists, ORed), match[spec_version]."""
    ingest.store(
        collection=world.collection, objects=[indicator(1), indicator(2), malware(1), malware(2)]
    )
    client = taxii("globex")
    by_type = _body(client.get(f"{coll}/objects/", {"match[type]": "malware"}))
    assert {o["type"] for o in by_type["objects"]} == {"malware"}
    both = _body(client.get(f"{coll}/objects/", {"match[type]": "malware,indicator"}))
    assert len(both["objects"]) == 4
    ids = f"{indicator(2)['id']},{malware(1)['id']}"
    by_id = _body(client.get(f"{coll}/objects/", {"match[id]": ids}))
    assert {o["id"] for o in by_id["objects"]} == set(ids.split(","))
    combined = _body(client.get(f"{coll}/objects/", {"match[id]": ids, "match[type]": "indicator"}))
    assert [o["id"] for o in combined["objects"]] == [indicator(2)["id"]]
    assert _body(client.get(f"{coll}/objects/", {"match[spec_version]": "2.0"})) == {}
    assert (
        len(_body(client.get(f"{coll}/objects/", {"match[spec_version]": "2.1"}))["objects"]) == 4
    )


@pytest.mark.parametrize("caller", ["globex", "staff"])
def test_match_version_first_last_all_and_values(
    world: World, taxii: Any, coll: str, caller: str
) -> None:
    """§3.4.1: match[version] = first, last, all, exact values and comma lists, for a
    partner and for staff (each list is the union of what its members select)."""
    versions = [indicator(1, version=v) for v in (0, 10, 20)]
    for obj in versions:
        ingest.store(collection=world.collection, objects=[obj])
    client = taxii(caller)

    def modified(params: dict[str, str]) -> list[str]:
        return [
            o["modified"] for o in _body(client.get(f"{coll}/objects/", params)).get("objects", [])
        ]

    mods = [o["modified"] for o in versions]
    assert modified({"match[version]": "first"}) == [mods[0]]
    assert modified({"match[version]": "last"}) == [mods[2]]
    assert modified({"match[version]": "all"}) == mods
    assert modified({"match[version]": mods[1]}) == [mods[1]]
    assert modified({"match[version]": f"first,{mods[1]}"}) == mods[:2]
    assert modified({"match[version]": "first,last"}) == [mods[0], mods[2]]
    assert modified({"match[version]": f"last,{mods[1]}"}) == mods[1:]
    assert modified({"match[version]": f"{mods[0]},{mods[2]}"}) == [mods[0], mods[2]]
    assert modified({"match[version]": "2000-01-01T00:00:00Z"}) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "bad-filter"),
        ({"limit": "-3"}, "bad-filter"),
        ({"limit": "ten"}, "bad-filter"),
        ({"added_after": "yesterday"}, "bad-filter"),
        ({"added_after": "2024-13-01T00:00:00Z"}, "bad-filter"),
        ({"match[version]": "all,last"}, "bad-filter"),
        ({"match[version]": "last,last"}, "bad-filter"),
        ({"match[version]": "newest"}, "bad-filter"),
        ({"match[type]": "Indicator;DROP TABLE"}, "bad-filter"),
        ({"match[id]": "indicator--nope"}, "bad-filter"),
        ({"match[type]": ""}, "bad-filter"),
        ({"next": "forged"}, "bad-next"),
    ],
)
def test_malformed_filters_are_400(
    world: World, taxii: Any, coll: str, params: dict[str, str], code: str
) -> None:
    """§3.4: the server MUST answer 400 if any URL query parameter is malformed."""
    response = taxii("globex").get(f"{coll}/objects/", params)
    assert response.status_code == 400
    assert orjson.loads(response.content)["error_code"] == code


def test_repeated_parameter_is_400(world: World, taxii: Any, coll: str) -> None:
    """§3.4: added_after and match fields MUST NOT be repeated."""
    response = taxii("globex").get(
        f"{coll}/objects/?added_after=2024-01-01T00:00:00Z&added_after=2024-01-02T00:00:00Z"
    )
    assert response.status_code == 400


def test_unknown_match_field_is_ignored(world: World, taxii: Any, coll: str) -> None:
    """§3.4: the server MAY ignore match fields it does not understand."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    body = _body(taxii("globex").get(f"{coll}/objects/", {"match[colour]": "blue"}))
    assert len(body["objects"]) == 1


def test_next_token_bound_to_query_and_caller(world: World, taxii: Any, coll: str) -> None:
    """Appendix B: a next token is re-checked against the query; mismatches are 400."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(4)])
    token = _body(taxii("globex").get(f"{coll}/objects/", {"limit": "1"}))["next"]
    ok = taxii("globex").get(f"{coll}/objects/", {"limit": "1", "next": token})
    assert ok.status_code == 200
    other_filter = taxii("globex").get(
        f"{coll}/objects/", {"next": token, "match[type]": "malware"}
    )
    assert other_filter.status_code == 400
    other_caller = taxii("acme").get(f"{coll}/objects/", {"next": token})
    assert other_caller.status_code == 400
    other_endpoint = taxii("globex").get(f"{coll}/manifest/", {"next": token})
    assert other_endpoint.status_code == 400
    truncated = taxii("globex").get(f"{coll}/objects/", {"next": token[:-4]})
    assert truncated.status_code == 400


def test_stale_next_token_is_400(world: World, taxii: Any, coll: str, settings: Any) -> None:
    """Appendix B: a next token past its lifetime is refused cleanly."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(3)])
    token = _body(taxii("globex").get(f"{coll}/objects/", {"limit": "1"}))["next"]
    settings.INTELSHARE_NEXT_MAX_AGE = -1
    response = taxii("globex").get(f"{coll}/objects/", {"next": token})
    assert response.status_code == 400
    assert orjson.loads(response.content)["error_code"] == "stale-next"


def test_server_page_size_caps_limit(world: World, taxii: Any, coll: str, settings: Any) -> None:
    """§3.4 limit: the server MAY return fewer than asked, then sets more."""
    settings.INTELSHARE_MAX_PAGE_SIZE = 2
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(3)])
    body = _body(taxii("globex").get(f"{coll}/objects/", {"limit": "100"}))
    assert len(body["objects"]) == 2 and body["more"] is True


def test_get_object_versions_and_filters(world: World, taxii: Any, coll: str) -> None:
    """§5.6 Get an Object (latest by default, match[version]); §5.8 versions list."""
    for v in (0, 1, 2):
        ingest.store(collection=world.collection, objects=[indicator(1, version=v)])
    oid = indicator(1)["id"]
    client = taxii("globex")
    latest = _body(client.get(f"{coll}/objects/{oid}/"))
    assert [o["modified"] for o in latest["objects"]] == [indicator(1, version=2)["modified"]]
    every = _body(client.get(f"{coll}/objects/{oid}/", {"match[version]": "all"}))
    assert len(every["objects"]) == 3
    versions = _body(client.get(f"{coll}/objects/{oid}/versions/"))
    assert versions["versions"] == [indicator(1, version=v)["modified"] for v in (0, 1, 2)]
    paged = _body(client.get(f"{coll}/objects/{oid}/versions/", {"limit": "2"}))
    assert len(paged["versions"]) == 2 and paged["more"] is True and paged["next"]
    assert (
        client.get(f"{coll}/objects/indicator--00000000-0000-4000-8000-00000000dead/").status_code
        == 404
    )


def test_manifest_records(world: World, taxii: Any, coll: str) -> None:
    """§5.3.1: one record per version with id, date_added, version, media_type."""
    ingest.store(collection=world.collection, objects=[indicator(1), indicator(1, version=3)])
    body = _body(taxii("globex").get(f"{coll}/manifest/", {"match[version]": "all"}))
    assert [r["version"] for r in body["objects"]] == [
        indicator(1)["modified"],
        indicator(1, version=3)["modified"],
    ]
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in body["objects"])
    assert body["objects"][0]["date_added"] < body["objects"][1]["date_added"]


def test_delete_one_version_then_all(world: World, taxii: Any, coll: str) -> None:
    """§5.7: DELETE with match[version] removes that version; without it, the object."""
    for v in (0, 1):
        ingest.store(collection=world.collection, objects=[indicator(1, version=v)])
    oid = indicator(1)["id"]
    client = taxii("acme")
    newest = indicator(1, version=1)["modified"]
    assert client.delete(f"{coll}/objects/{oid}/?match[version]={newest}").status_code == 200
    left = _body(client.get(f"{coll}/objects/{oid}/"))
    assert [o["modified"] for o in left["objects"]] == [indicator(1)["modified"]]
    assert ObjectVersion.objects.get(stix_id=oid).is_latest is True
    assert client.delete(f"{coll}/objects/{oid}/").status_code == 200
    assert client.get(f"{coll}/objects/{oid}/").status_code == 404
    assert client.delete(f"{coll}/objects/{oid}/").status_code == 404


def test_collection_by_alias(world: World, taxii: Any) -> None:
    """§5.2.1: an alias can be used in place of the id in URLs."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    body = _body(taxii("globex").get("/taxii2/intel/collections/llm-misuse/objects/"))
    assert len(body["objects"]) == 1


def test_unknown_urls_and_methods_are_taxii_errors(world: World, taxii: Any, coll: str) -> None:
    """§3.6.1: errors are TAXII error messages; unknown API roots 404 (§4.2)."""
    client = taxii("staff")
    assert client.get("/taxii2/nope/").status_code == 404
    assert client.get("/taxii2/intel/collections/nope/").status_code == 404
    assert client.get("/taxii2/intel/status/not-a-uuid/").status_code == 404
    response = client.client.put(f"{coll}/objects/", b"{}", headers=client.headers)
    assert response.status_code == 405
    assert orjson.loads(response.content)["http_status"] == "405"
