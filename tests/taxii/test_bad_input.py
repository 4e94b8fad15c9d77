"""Bad input gets a clear TAXII error and changes nothing (issue "reliability").

Table-driven: every case is named, answered with the documented status and
error_code (§3.6.1) or a per-object failure in the status resource (§5.5),
within a bounded time, and leaves the stored versions untouched.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelshare import ingest
from intelshare.models import AuditEvent, ObjectVersion, Status
from tests.factories import World, indicator

TAXII = "application/taxii+json;version=2.1"
BOUND_SECONDS = 10  # a hang detector, not a performance assertion


def _envelope(*objects: Any) -> bytes:
    return orjson.dumps({"objects": list(objects)})


def _without(key: str) -> dict[str, Any]:
    obj = indicator(5)
    del obj[key]
    return obj


def _with(**values: Any) -> dict[str, Any]:
    return {**indicator(5), **values}


# name, body, content type, expected HTTP status, error_code or per-object message part
POST_CASES: list[tuple[str, bytes, str, int, str]] = [
    ("malformed json", b'{"objects": [', TAXII, 400, "malformed-json"),
    ("invalid utf-8", b'{"objects": ["\xc3\x28"]}', TAXII, 400, "malformed-json"),
    (
        "duplicate keys",
        b'{"objects": [{"type": "indicator", "type": "malware"}]}',
        TAXII,
        400,
        "malformed-json",
    ),
    ("nan", b'{"objects": [NaN]}', TAXII, 400, "malformed-json"),
    (
        "huge integer",
        b'{"objects": [{"number": 123456789012345678901234567890}]}',
        TAXII,
        400,
        "malformed-json",
    ),
    ("huge float", b'{"objects": [{"number": 1e400}]}', TAXII, 400, "malformed-json"),
    (
        "deeply nested",
        b'{"objects": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        TAXII,
        400,
        "malformed-json",
    ),
    ("not an envelope", b'[{"type": "indicator"}]', TAXII, 422, "not-an-envelope"),
    ("objects not a list", b'{"objects": {"type": "indicator"}}', TAXII, 422, "not-an-envelope"),
    ("empty objects", b'{"objects": []}', TAXII, 422, "not-an-envelope"),
    ("wrong media type", _envelope(indicator(5)), "text/html", 415, "unsupported-media-type"),
    (
        "taxii 2.0 media type",
        _envelope(indicator(5)),
        "application/taxii+json;version=2.0",
        415,
        "unsupported-media-type",
    ),
    ("missing id", _envelope(_without("id")), TAXII, 202, "id must be"),
    ("missing type", _envelope(_without("type")), TAXII, 202, "type must be"),
    ("missing spec_version", _envelope(_without("spec_version")), TAXII, 202, "spec_version"),
    (
        "id of the wrong form",
        _envelope(_with(id="indicator--not-a-uuid")),
        TAXII,
        202,
        "id must be",
    ),
    (
        "id of another type",
        _envelope(_with(id="malware--0b4f4b1f-3f4e-4b8e-9f57-3c55a8a1c0de")),
        TAXII,
        202,
        "does not start with its type",
    ),
    (
        "path trick in id",
        _envelope(_with(id="indicator--../../etc/passwd")),
        TAXII,
        202,
        "id must be",
    ),
    (
        "timestamp out of range",
        _envelope(_with(modified="2024-13-45T25:61:61Z")),
        TAXII,
        202,
        "not a valid date",
    ),
    (
        "timestamp wrong format",
        _envelope(_with(modified="2024-01-01 00:00:00")),
        TAXII,
        202,
        "not a timestamp",
    ),
    (
        "timestamp not a string",
        _envelope(_with(created=1700000000)),
        TAXII,
        202,
        "must be a string",
    ),
    (
        "modified before created",
        _envelope(_with(modified="2000-01-01T00:00:00Z")),
        TAXII,
        202,
        "modified must not be earlier",
    ),
    ("very long type", _envelope(_with(type="x" * 5000)), TAXII, 202, "type must be"),
    (
        "bad reference",
        _envelope(_with(created_by_ref="identity--nope")),
        TAXII,
        202,
        "created_by_ref",
    ),
    ("object not a dict", _envelope("indicator"), TAXII, 202, "must be a JSON object"),
    (
        "stix pattern not a pattern",
        _envelope(_with(pattern="not a pattern")),
        TAXII,
        202,
        "pattern: FAIL: Error found at line 1:0. input is missing square brackets",
    ),
    (
        "stix pattern unclosed",
        _envelope(_with(pattern="[url:value = 'x'")),
        TAXII,
        202,
        "missing ']' at '<EOF>'",
    ),
]


def _counts() -> tuple[int, ...]:
    return (ObjectVersion.objects.count(),)


@pytest.mark.parametrize(
    ("name", "body", "content_type", "status", "expected"),
    POST_CASES,
    ids=[c[0] for c in POST_CASES],
)
def test_bad_post_bodies(
    world: World, taxii: Any, name: str, body: bytes, content_type: str, status: int, expected: str
) -> None:
    """§5.5: 400/413/415/422 for the request, or a per-object failure; never stored."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    before = _counts()
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    started = time.monotonic()
    response = taxii("acme").post(path, body, content_type=content_type)
    assert time.monotonic() - started < BOUND_SECONDS
    assert response.status_code == status, response.content
    assert response["Content-Type"] == TAXII
    answer = orjson.loads(response.content)
    if status == 202:
        assert answer["failure_count"] == answer["total_count"] == 1
        assert expected in answer["failures"][0]["message"]
    else:
        assert answer["error_code"] == expected and answer["http_status"] == str(status)
    assert _counts() == before


def test_body_over_the_limit(world: World, taxii: Any) -> None:
    """§4.2.1: a body larger than max_content_length → 413, nothing stored."""
    world.api_root.max_content_length = 1024
    world.api_root.save()
    before = (_counts(), Status.objects.count())
    body = _envelope(_with(description="x" * 5000))
    response = taxii("acme").post(f"/taxii2/intel/collections/{world.collection.pk}/objects/", body)
    assert response.status_code == 413
    assert orjson.loads(response.content)["error_code"] == "too-large"
    assert (_counts(), Status.objects.count()) == before


# name, query string, expected status, error_code
GET_CASES: list[tuple[str, str, int, str | None]] = [
    ("limit zero", "limit=0", 400, "bad-filter"),
    ("limit negative", "limit=-5", 400, "bad-filter"),
    ("limit not a number", "limit=ten", 400, "bad-filter"),
    ("limit fraction", "limit=1.5", 400, "bad-filter"),
    ("limit huge is capped", "limit=99999999999999999999999", 200, None),
    ("added_after not a timestamp", "added_after=yesterday", 400, "bad-filter"),
    ("added_after out of range", "added_after=2024-02-30T00:00:00Z", 400, "bad-filter"),
    (
        "added_after repeated",
        "added_after=2024-01-01T00:00:00Z&added_after=2024-01-02T00:00:00Z",
        400,
        "bad-filter",
    ),
    ("unknown match field", "match[colour]=blue", 200, None),
    ("match type sql", "match[type]=indicator'%20OR%201=1--", 400, "bad-filter"),
    ("match id sql", "match[id]=indicator--1'%3BDROP%20TABLE%20x", 400, "bad-filter"),
    ("match version keyword typo", "match[version]=latest", 400, "bad-filter"),
    ("match version all combined", "match[version]=all,first", 400, "bad-filter"),
    ("match spec_version junk", "match[spec_version]=two", 400, "bad-filter"),
    ("forged next", "next=eyJub3QiOiJzaWduZWQifQ", 400, "bad-next"),
    ("empty next", "next=", 400, "bad-filter"),
]


@pytest.mark.parametrize(
    ("name", "query", "status", "code"), GET_CASES, ids=[c[0] for c in GET_CASES]
)
def test_bad_filters(
    world: World, taxii: Any, name: str, query: str, status: int, code: str | None
) -> None:
    """§3.4: a malformed URL parameter is 400; unknown match fields MAY be ignored."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    before = _counts()
    started = time.monotonic()
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/?{query}"
    )
    assert time.monotonic() - started < BOUND_SECONDS
    assert response.status_code == status, response.content
    if code:
        assert orjson.loads(response.content)["error_code"] == code
    assert _counts() == before


def test_next_tokens_truncated_replayed_and_foreign(world: World, taxii: Any) -> None:
    """Appendix B: truncated and foreign tokens are 400; a replayed one is the same page."""
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(5)])
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    token = orjson.loads(taxii("globex").get(path, {"limit": "2"}).content)["next"]
    first = taxii("globex").get(path, {"limit": "2", "next": token})
    again = taxii("globex").get(path, {"limit": "2", "next": token})
    assert first.status_code == again.status_code == 200
    # The same page; each answer's own ``next`` is signed with the second it was
    # made in (a timestamped signature), so the tokens may differ but lead to the same page.
    first_body, again_body = orjson.loads(first.content), orjson.loads(again.content)
    following = [
        taxii("globex").get(path, {"limit": "2", "next": body.pop("next")}).content
        for body in (first_body, again_body)
    ]
    assert first_body == again_body
    assert following[0] == following[1]
    for bad in (token[:-1], token[: len(token) // 2], token + "x", token.replace(":", ";")):
        assert taxii("globex").get(path, {"limit": "2", "next": bad}).status_code == 400
    other = f"/taxii2/intel/collections/{world.other.pk}/objects/"
    assert taxii("staff").get(other, {"next": token}).status_code == 400


@pytest.mark.parametrize(
    "object_id", ["..%2F..%2Fetc%2Fpasswd", "indicator--x%27%20OR%201=1", "%00", "a" * 2000]
)
def test_path_tricks_in_object_ids(world: World, taxii: Any, object_id: str) -> None:
    """§5.6: an id that names nothing is 404, whatever it contains."""
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/{object_id}/"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == TAXII


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "id",
                    "spec_version",
                    "created",
                    "modified",
                    "pattern",
                    "pattern_type",
                    "valid_from",
                    "name",
                    "object_marking_refs",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)
stixish = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["indicator", "malware", "x", "Indicator", ""]),
        "id": st.sampled_from([indicator(1)["id"], indicator(2)["id"], "indicator--x", ""]),
        "spec_version": st.sampled_from(["2.1", "2.0", 2.1]),
        "created": st.sampled_from([indicator(1)["created"], "2024-99-01T00:00:00Z", 5]),
        "modified": st.sampled_from([indicator(1)["modified"], indicator(2)["modified"]]),
        "pattern": st.just("[x:y = 'z']"),
        "pattern_type": st.just("stix"),
        "valid_from": st.just(indicator(1)["valid_from"]),
        "name": st.text(max_size=10),
        "is_family": st.booleans(),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    objects=st.lists(stixish | json_values, max_size=6),
    wrapper=st.sampled_from(["envelope", "bundle", "raw"]),
)
def test_fuzzed_envelopes_never_5xx_and_account_for_every_object(
    world: World, taxii: Any, objects: list[Any], wrapper: str
) -> None:
    """POST random envelopes: never a 5xx; every object is a success or a failure in
    the status (§4.3.1), and only successes can add stored versions."""
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    body: Any = {"objects": objects}
    if wrapper == "bundle":
        body = {"type": "bundle", "id": "bundle--x", "objects": objects}
    elif wrapper == "raw":
        body = objects
    before = ObjectVersion.objects.count()
    response = taxii("acme").post(path, orjson.dumps(body))
    assert response.status_code < 500, response.content
    after = ObjectVersion.objects.count()
    if response.status_code != 202:
        assert after == before
        return
    status = orjson.loads(response.content)
    assert (
        status["success_count"] + status["failure_count"] == status["total_count"] == len(objects)
    )
    assert after - before <= status["success_count"]
    assert AuditEvent.objects.filter(method="POST").exists()


@pytest.mark.parametrize(
    "query", ["limit=%00", "match[type]=%00", "added_after=%00", "next=%00", "match[colour]=%00"]
)
def test_nul_bytes_in_filters_are_400_not_5xx(world: World, taxii: Any, query: str) -> None:
    """§3.4: malformed parameters are 400; NUL bytes never reach the database."""
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/?{query}"
    )
    assert response.status_code in (200, 400)
    assert AuditEvent.objects.latest("pk").status_code == response.status_code


# Characters no resource name can hold, percent-encoded as a client sends them: C0
# controls, DEL, a C1 control and Unicode's line and paragraph separators.
CONTROLS = {
    "nul": "%00",
    "soh": "%01",
    "tab": "%09",
    "lf": "%0A",
    "cr": "%0D",
    "us": "%1F",
    "del": "%7F",
    "nel": "%C2%85",
    "line-separator": "%E2%80%A8",
    "paragraph-separator": "%E2%80%A9",
}
_OBJECT = indicator(1)["id"]
_STATUS = "5f0e7c43-5b2a-4ae8-9d43-a2d2d3b5f9a1"
_COLL = "/taxii2/intel/collections"

# name, method, path with {c} where the control character goes (§3.1 endpoint table)
PATH_CASES: list[tuple[str, str, str]] = [
    ("api root", "GET", "/taxii2/{c}/"),
    ("api root suffix", "GET", "/taxii2/intel{c}/"),
    ("collections of root", "GET", "/taxii2/intel{c}/collections/"),
    ("objects of root", "GET", "/taxii2/{c}intel/collections/llm-misuse/objects/"),
    ("status", "GET", "/taxii2/intel/status/{c}/"),
    ("status id suffix", "GET", "/taxii2/intel/status/" + _STATUS + "{c}/"),
    ("collection", "GET", _COLL + "/{c}/"),
    ("collection alias suffix", "GET", _COLL + "/llm-misuse{c}/"),
    ("manifest", "GET", _COLL + "/llm-misuse{c}/manifest/"),
    ("objects", "GET", _COLL + "/{c}/objects/"),
    ("objects alias prefix", "GET", _COLL + "/{c}llm-misuse/objects/"),
    ("add objects", "POST", _COLL + "/llm-misuse{c}/objects/"),
    ("object", "GET", _COLL + "/llm-misuse/objects/" + _OBJECT + "{c}/"),
    ("object in collection", "GET", _COLL + "/{c}/objects/" + _OBJECT + "/"),
    ("object id alone", "GET", _COLL + "/llm-misuse/objects/{c}/"),
    ("delete object", "DELETE", _COLL + "/llm-misuse/objects/" + _OBJECT + "{c}/"),
    ("delete in collection", "DELETE", _COLL + "/llm-misuse{c}/objects/" + _OBJECT + "/"),
    ("versions", "GET", _COLL + "/llm-misuse/objects/" + _OBJECT + "{c}/versions/"),
    ("versions in collection", "GET", _COLL + "/{c}/objects/" + _OBJECT + "/versions/"),
]


@pytest.mark.parametrize(("name", "method", "template"), PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_control_characters_in_path_segments_are_404(
    world: World, taxii: Any, name: str, method: str, template: str
) -> None:
    """§3.6.1: a path segment holding a control character names no resource (404 with
    the TAXII error message), on PostgreSQL too, whose text cannot hold NUL; the
    segment reaches no query (the request's audit record aside), nothing changes."""
    from urllib.parse import unquote

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ingest.store(collection=world.collection, objects=[indicator(1)])
    before = _counts()
    client = taxii("acme")
    for label, control in CONTROLS.items():
        path = template.format(c=control)
        with CaptureQueriesContext(connection) as captured:
            if method == "POST":
                response = client.post(path, _envelope(indicator(2)))
            elif method == "DELETE":
                response = client.delete(path)
            else:
                response = client.get(path)
        assert response.status_code == 404, (label, response.content)
        assert response["Content-Type"] == TAXII
        answer = orjson.loads(response.content)
        assert answer["http_status"] == "404" and answer["title"] == "Not Found"
        assert answer["error_id"] and answer["description"]
        reached = [
            q["sql"]
            for q in captured.captured_queries
            if unquote(control) in q["sql"] and "intelshare_auditevent" not in q["sql"]
        ]
        assert not reached, label
    assert _counts() == before


# Management API routes with an id in the path (the router's detail and action routes).
API_PATHS = [
    "partners/{c}/",
    "partners/acme{c}/",
    "users/{c}/",
    "tokens/{c}/",
    "tokens/{c}/revoke/",
    "api-roots/{c}/",
    "api-roots/intel{c}/",
    "collections/{c}/",
    "agreements/{c}/",
    "agreements/{c}/revoke/",
    "audit-events/{c}/",
    "feeds/{c}/",
    "feeds/{c}/run/",
    "sync-runs/{c}/",
    "quarantine/{c}/",
    "quarantine/{c}/release/",
]


def test_control_characters_in_management_api_paths_are_404(world: World) -> None:
    """The management API answers a control character in an id with 404, never 500."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=world.personas["staff"].basic)
    for template in API_PATHS:
        method = client.post if template.endswith(("revoke/", "run/", "release/")) else client.get
        for control in CONTROLS.values():
            path = "/api/v1/" + template.format(c=control)
            response = method(path)
            assert response.status_code == 404, (path, response.content)


def test_control_characters_in_management_api_slugs_are_400(world: World) -> None:
    """Partner and API root slugs in queries and bodies: a control character names no
    row (400 with the field's error), never a 500 from PostgreSQL."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=world.personas["staff"].basic)
    for control in CONTROLS.values():
        slug = "acme" + control
        for path in (
            f"/api/v1/explain/?partner={slug}&stix_id={_OBJECT}",
            f"/api/v1/preview/?partner={slug}&collection={world.collection.pk}",
        ):
            response = client.get(path)
            assert response.status_code == 400, (path, response.content)
            assert "partner" in response.json()
        bodies = [
            (
                "/api/v1/collections/",
                {"api_root": "intel" + _decoded(control), "title": "x"},
                "api_root",
            ),
            (
                "/api/v1/agreements/",
                {"partner": _decoded(slug), "name": "x", "collections": [str(world.collection.pk)]},
                "partner",
            ),
        ]
        for path, body, field in bodies:
            response = client.post(path, body, format="json")
            assert response.status_code == 400, (path, response.content)
            assert field in response.json()


def _decoded(encoded: str) -> str:
    from urllib.parse import unquote

    return unquote(encoded)


def test_control_characters_in_admin_paths_never_5xx(world: World) -> None:
    """The admin never answers 5xx for a control character in an object id (Django reads
    "1\\t" as pk 1, as int() does, so some of these show an object; none reach PostgreSQL
    as text: the admin's keys are integers and UUIDs)."""
    from django.contrib import admin
    from django.test import Client
    from django.urls import reverse

    from intelshare.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        change = reverse("admin:{}_{}_change".format(*info), args=["1"])
        for control in CONTROLS.values():
            for path in (
                change.replace("/1/", f"/{control}/"),
                change.replace("/1/", f"/1{control}/"),
                change.replace("/1/change/", f"/{control}/delete/"),
                change.replace("/1/change/", f"/{control}/history/"),
            ):
                response = client.get(path)
                assert response.status_code < 500, (path, response.status_code)
