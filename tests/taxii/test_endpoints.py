"""Every TAXII endpoint x every persona (STYLE.md §9; TAXII 2.1 §4, §5).

Personas: acme (read + write grant), globex (read grant), mallory (no grant),
staff (the hub's own staff), anonymous. A collection without a grant does not
exist for a partner (404, never a 403 that reveals it; §5 "404 … or the
client does not have access").
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from intelshare import ingest
from intelshare.models import TAXII_21, Status
from tests.factories import World, indicator

PERSONAS = ["acme", "globex", "mallory", "staff", None]


def _seed(world: World) -> dict[str, str]:
    ingest.store(collection=world.collection, objects=[indicator(1), indicator(1, version=1)])
    status = Status.objects.create(
        collection=world.collection,
        partner=world.personas["acme"].user.partner,
        user=world.personas["acme"].user,
        status=Status.COMPLETE,
        request_timestamp=world.collection.created,
        total_count=0,
    )
    coll = f"/taxii2/intel/collections/{world.collection.pk}"
    obj = indicator(1)["id"]
    return {"coll": coll, "obj": obj, "status": str(status.pk)}


ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    # name, method, expected status per persona
    ("discovery", "GET", {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401}),
    ("api-root", "GET", {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401}),
    ("status", "GET", {"acme": 200, "globex": 404, "mallory": 404, "staff": 200, None: 401}),
    ("collections", "GET", {"acme": 200, "globex": 200, "mallory": 200, "staff": 200, None: 401}),
    ("collection", "GET", {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401}),
    ("manifest", "GET", {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401}),
    ("objects", "GET", {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401}),
    ("objects", "POST", {"acme": 202, "globex": 403, "mallory": 404, "staff": 202, None: 401}),
    ("object", "GET", {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401}),
    ("object", "DELETE", {"acme": 200, "globex": 403, "mallory": 404, "staff": 200, None: 401}),
    ("versions", "GET", {"acme": 200, "globex": 200, "mallory": 404, "staff": 200, None: 401}),
]


def _path(name: str, ids: dict[str, str]) -> str:
    return {
        "discovery": "/taxii2/",
        "api-root": "/taxii2/intel/",
        "status": f"/taxii2/intel/status/{ids['status']}/",
        "collections": "/taxii2/intel/collections/",
        "collection": f"{ids['coll']}/",
        "manifest": f"{ids['coll']}/manifest/",
        "objects": f"{ids['coll']}/objects/",
        "object": f"{ids['coll']}/objects/{ids['obj']}/",
        "versions": f"{ids['coll']}/objects/{ids['obj']}/versions/",
    }[name]


def _check_body(
    name: str, method: str, persona: str | None, status: int, body: dict[str, Any], world: World
) -> None:
    if status >= 400:
        assert body["http_status"] == str(status)  # §3.6.1
        assert body["title"]
        return
    if name == "discovery":
        assert body["api_roots"] == ["/taxii2/intel/"]
        assert body["default"] == "/taxii2/intel/"
    elif name == "api-root":
        assert body["versions"] == [TAXII_21]
        assert body["max_content_length"] > 0
    elif name == "status":
        assert body["status"] == "complete"
    elif name == "collections":
        ids = [c["id"] for c in body.get("collections", [])]
        expected = {
            "acme": [world.collection.pk],
            "globex": [world.collection.pk],
            "mallory": [],
            "staff": [world.collection.pk, world.other.pk],
        }[persona]
        assert ids == [str(i) for i in expected]
    elif name == "collection":
        assert body["id"] == str(world.collection.pk)
        assert body["can_read"] is True
        assert body["can_write"] is (persona in ("acme", "staff"))
    elif name in ("objects", "object") and method == "GET":
        assert [o["modified"] for o in body["objects"]] == [indicator(1, version=1)["modified"]]
    elif name == "manifest":
        assert [r["id"] for r in body["objects"]] == [indicator(1)["id"]]
    elif name == "versions":
        assert len(body["versions"]) == 2
    elif method == "POST":
        assert body["status"] == "complete"
        assert body["success_count"] == 1


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p or "anonymous")
@pytest.mark.parametrize(
    ("name", "method", "expected"), ENDPOINTS, ids=[f"{m} {n}" for n, m, _ in ENDPOINTS]
)
def test_endpoint_persona_matrix(
    world: World,
    taxii: Any,
    name: str,
    method: str,
    expected: dict[str | None, int],
    persona: str | None,
) -> None:
    """Status, media type and body of every endpoint for every persona (§4, §5)."""
    ids = _seed(world)
    client = taxii(persona)
    path = _path(name, ids)
    if method == "GET":
        response = client.get(path)
    elif method == "POST":
        response = client.post(path, orjson.dumps({"objects": [indicator(7)]}))
    else:
        response = client.delete(path)
    assert response.status_code == expected[persona], response.content
    assert response["Content-Type"] == TAXII_21  # §3.1: every response, errors included
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Basic")  # RFC 7235, §1.6.9
    if method == "DELETE" and response.status_code == 200:
        assert response.content == b""
        return
    _check_body(name, method, persona, response.status_code, orjson.loads(response.content), world)


@pytest.mark.parametrize("name", ["acme", "staff"])
def test_bearer_token_works_like_basic(world: World, taxii: Any, name: str) -> None:
    """Bearer tokens authenticate exactly like HTTP Basic (§1.6.9)."""
    ids = _seed(world)
    response = taxii(name, bearer=True).get(_path("objects", ids))
    assert response.status_code == 200


def test_bad_credentials_are_401_with_challenge(world: World, taxii: Any) -> None:
    """Failed authentication → 401 + WWW-Authenticate (§5.4, RFC 7235)."""
    from tests.conftest import TaxiiClient

    for header in ("Basic bm9ib2R5Om5vcGU=", "Bearer isk_forged", "Bearer a b"):
        response = TaxiiClient(header).get("/taxii2/")
        assert response.status_code == 401
        assert response["Content-Type"] == TAXII_21
        assert "WWW-Authenticate" in response


def test_revoked_and_expired_tokens_are_refused(world: World, taxii: Any) -> None:
    """A revoked or expired token no longer authenticates (§1.6.9)."""
    from django.utils import timezone

    from intelshare.models import ApiToken

    persona = world.personas["acme"]
    ApiToken.objects.filter(user=persona.user).update(revoked_at=timezone.now())
    assert taxii("acme", bearer=True).get("/taxii2/").status_code == 401
    ApiToken.objects.filter(user=persona.user).update(revoked_at=None, expires_at=timezone.now())
    assert taxii("acme", bearer=True).get("/taxii2/").status_code == 401
