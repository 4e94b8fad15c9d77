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
    ("duplicate keys", b'{"objects": [{"type": "indicator", "type": "malware"}]}', TAXII, 400,
     "malformed-json"),
    ("nan", b'{"objects": [NaN]}', TAXII, 400, "malformed-json"),
    ("huge integer", b'{"objects": [{"number": 123456789012345678901234567890}]}', TAXII, 400,
     "malformed-json"),
    ("huge float", b'{"objects": [{"number": 1e400}]}', TAXII, 400, "malformed-json"),
    ("deeply nested", b'{"objects": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", TAXII, 400,
     "malformed-json"),
    ("not an envelope", b'[{"type": "indicator"}]', TAXII, 422, "not-an-envelope"),
    ("objects not a list", b'{"objects": {"type": "indicator"}}', TAXII, 422,
     "not-an-envelope"),
    ("empty objects", b'{"objects": []}', TAXII, 422, "not-an-envelope"),
    ("wrong media type", _envelope(indicator(5)), "text/html", 415, "unsupported-media-type"),
    ("taxii 2.0 media type", _envelope(indicator(5)), "application/taxii+json;version=2.0",
     415, "unsupported-media-type"),
    ("missing id", _envelope(_without("id")), TAXII, 202, "id must be"),
    ("missing type", _envelope(_without("type")), TAXII, 202, "type must be"),
    ("missing spec_version", _envelope(_without("spec_version")), TAXII, 202, "spec_version"),
    ("id of the wrong form", _envelope(_with(id="indicator--not-a-uuid")), TAXII, 202,
     "id must be"),
    ("id of another type", _envelope(_with(id="malware--0b4f4b1f-3f4e-4b8e-9f57-3c55a8a1c0de")),
     TAXII, 202, "does not start with its type"),
    ("path trick in id", _envelope(_with(id="indicator--../../etc/passwd")), TAXII, 202,
     "id must be"),
    ("timestamp out of range", _envelope(_with(modified="2024-13-45T25:61:61Z")), TAXII, 202,
     "not a valid date"),
    ("timestamp wrong format", _envelope(_with(modified="2024-01-01 00:00:00")), TAXII, 202,
     "not a timestamp"),
    ("timestamp not a string", _envelope(_with(created=1700000000)), TAXII, 202,
     "must be a string"),
    ("modified before created", _envelope(_with(modified="2000-01-01T00:00:00Z")), TAXII, 202,
     "modified must not be earlier"),
    ("very long type", _envelope(_with(type="x" * 5000)), TAXII, 202, "type must be"),
    ("bad reference", _envelope(_with(created_by_ref="identity--nope")), TAXII, 202,
     "created_by_ref"),
    ("object not a dict", _envelope("indicator"), TAXII, 202, "must be a JSON object"),
]


def _counts() -> tuple[int, ...]:
    return (ObjectVersion.objects.count(),)


@pytest.mark.parametrize(("name", "body", "content_type", "status", "expected"), POST_CASES,
                         ids=[c[0] for c in POST_CASES])
def test_bad_post_bodies(world: World, taxii: Any, name: str, body: bytes, content_type: str,
                         status: int, expected: str) -> None:
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
    response = taxii("acme").post(f"/taxii2/intel/collections/{world.collection.pk}/objects/",
                                  body)
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
    ("added_after repeated", "added_after=2024-01-01T00:00:00Z&added_after=2024-01-02T00:00:00Z",
     400, "bad-filter"),
    ("unknown match field", "match[colour]=blue", 200, None),
    ("match type sql", "match[type]=indicator'%20OR%201=1--", 400, "bad-filter"),
    ("match id sql", "match[id]=indicator--1'%3BDROP%20TABLE%20x", 400, "bad-filter"),
    ("match version keyword typo", "match[version]=latest", 400, "bad-filter"),
    ("match version all combined", "match[version]=all,first", 400, "bad-filter"),
    ("match spec_version junk", "match[spec_version]=two", 400, "bad-filter"),
    ("forged next", "next=eyJub3QiOiJzaWduZWQifQ", 400, "bad-next"),
    ("empty next", "next=", 400, "bad-filter"),
]


@pytest.mark.parametrize(("name", "query", "status", "code"), GET_CASES,
                         ids=[c[0] for c in GET_CASES])
def test_bad_filters(world: World, taxii: Any, name: str, query: str, status: int,
                     code: str | None) -> None:
    """§3.4: a malformed URL parameter is 400; unknown match fields MAY be ignored."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    before = _counts()
    started = time.monotonic()
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/?{query}")
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
    following = [taxii("globex").get(path, {"limit": "2", "next": body.pop("next")}).content
                 for body in (first_body, again_body)]
    assert first_body == again_body
    assert following[0] == following[1]
    for bad in (token[:-1], token[: len(token) // 2], token + "x", token.replace(":", ";")):
        assert taxii("globex").get(path, {"limit": "2", "next": bad}).status_code == 400
    other = f"/taxii2/intel/collections/{world.other.pk}/objects/"
    assert taxii("staff").get(other, {"next": token}).status_code == 400


@pytest.mark.parametrize("object_id", ["..%2F..%2Fetc%2Fpasswd", "indicator--x%27%20OR%201=1",
                                       "%00", "a" * 2000])
def test_path_tricks_in_object_ids(world: World, taxii: Any, object_id: str) -> None:
    """§5.6: an id that names nothing is 404, whatever it contains."""
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/{object_id}/")
    assert response.status_code == 404
    assert response["Content-Type"] == TAXII


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "id", "spec_version", "created", "modified",
                                       "pattern", "pattern_type", "valid_from", "name",
                                       "object_marking_refs", "x"]), children, max_size=6),
    max_leaves=20)
stixish = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["indicator", "malware", "x", "Indicator", ""]),
    "id": st.sampled_from([indicator(1)["id"], indicator(2)["id"], "indicator--x", ""]),
    "spec_version": st.sampled_from(["2.1", "2.0", 2.1]),
    "created": st.sampled_from([indicator(1)["created"], "2024-99-01T00:00:00Z", 5]),
    "modified": st.sampled_from([indicator(1)["modified"], indicator(2)["modified"]]),
    "pattern": st.just("[x:y = 'z']"), "pattern_type": st.just("stix"),
    "valid_from": st.just(indicator(1)["valid_from"]), "name": st.text(max_size=10),
    "is_family": st.booleans()})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(stixish | json_values, max_size=6),
       wrapper=st.sampled_from(["envelope", "bundle", "raw"]))
def test_fuzzed_envelopes_never_5xx_and_account_for_every_object(
        world: World, taxii: Any, objects: list[Any], wrapper: str) -> None:
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
    assert status["success_count"] + status["failure_count"] == status["total_count"] == len(
        objects)
    assert after - before <= status["success_count"]
    assert AuditEvent.objects.filter(method="POST").exists()


@pytest.mark.parametrize("query", ["limit=%00", "match[type]=%00", "added_after=%00",
                                   "next=%00", "match[colour]=%00"])
def test_nul_bytes_in_filters_are_400_not_5xx(world: World, taxii: Any, query: str) -> None:
    """§3.4: malformed parameters are 400; NUL bytes never reach the database."""
    response = taxii("globex").get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/?{query}")
    assert response.status_code in (200, 400)
    assert AuditEvent.objects.latest("pk").status_code == response.status_code
