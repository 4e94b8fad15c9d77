"""Add Objects (§5.5), status resources (§4.3) and content negotiation (§3.1)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from intelshare import submissions
from intelshare.models import ObjectVersion, Status
from tests.factories import World, indicator


@pytest.fixture
def coll(world: World) -> str:
    return f"/taxii2/intel/collections/{world.collection.pk}"


def _counts() -> tuple[int, int]:
    return ObjectVersion.objects.count(), Status.objects.count()


def test_post_stores_and_reports_per_object(world: World, taxii: Any, coll: str) -> None:
    """§5.5: 202 with a status resource; invalid objects are per-object failures."""
    bad = indicator(2)
    del bad["pattern"]
    envelope = {"objects": [indicator(1), bad, {"type": "indicator"}]}
    response = taxii("acme").post(f"{coll}/objects/", orjson.dumps(envelope))
    assert response.status_code == 202
    status = orjson.loads(response.content)
    assert status["status"] == "complete"
    assert (
        status["total_count"],
        status["success_count"],
        status["failure_count"],
        status["pending_count"],
    ) == (3, 1, 2, 0)
    assert status["successes"] == [{"id": indicator(1)["id"], "version": indicator(1)["modified"]}]
    reasons = [f["message"] for f in status["failures"]]
    assert "requires the property 'pattern'" in reasons[0]
    assert "id must be" in reasons[1]
    assert ObjectVersion.objects.count() == 1
    assert ObjectVersion.objects.get().origin == f"post:{status['id']}"  # provenance
    polled = taxii("acme").get(f"/taxii2/intel/status/{status['id']}/")
    assert orjson.loads(polled.content) == status  # §4.3


def test_resending_a_version_is_success_storing_nothing(
    world: World, taxii: Any, coll: str
) -> None:
    """§5.5: an exact duplicate MUST NOT produce an error; nothing is stored twice."""
    body = orjson.dumps({"objects": [indicator(1), indicator(1)]})
    first = orjson.loads(taxii("acme").post(f"{coll}/objects/", body).content)
    second = orjson.loads(taxii("acme").post(f"{coll}/objects/", body).content)
    assert first["success_count"] == 2 and second["success_count"] == 2
    assert second["failure_count"] == 0
    assert ObjectVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/taxii+json;version=2.1", 400, "malformed-json"),
        (b"\xff\xfe{}", "application/taxii+json;version=2.1", 400, "malformed-json"),
        (b"[]", "application/taxii+json;version=2.1", 422, "not-an-envelope"),
        (b'{"objects": {}}', "application/taxii+json;version=2.1", 422, "not-an-envelope"),
        (b'{"objects": []}', "application/taxii+json;version=2.1", 422, "not-an-envelope"),
        (b"{}", "application/taxii+json;version=2.1", 422, "not-an-envelope"),
        (b'{"objects": [1]}', "text/plain", 415, "unsupported-media-type"),
        (b'{"objects": [1]}', "application/taxii+json;version=2.0", 415, "unsupported-media-type"),
        (b'{"objects": [1]}', "application/xml", 415, "unsupported-media-type"),
    ],
)
def test_bad_bodies_change_nothing(
    world: World, taxii: Any, coll: str, body: bytes, content_type: str, status: int, code: str
) -> None:
    """§5.5 failure codes 400/415/422: a rejected request stores nothing."""
    before = _counts()
    response = taxii("acme").post(f"{coll}/objects/", body, content_type=content_type)
    assert response.status_code == status
    error = orjson.loads(response.content)
    assert error["error_code"] == code and error["http_status"] == str(status)
    assert _counts() == before


def test_oversize_body_is_413(world: World, taxii: Any, coll: str) -> None:
    """§4.2.1/§5.5: a body over max_content_length → 413; one under it is accepted."""
    world.api_root.max_content_length = 2000
    world.api_root.save()
    big = orjson.dumps({"objects": [indicator(n) for n in range(10)]})
    assert len(big) > 2000
    before = _counts()
    assert taxii("acme").post(f"{coll}/objects/", big).status_code == 413
    assert _counts() == before
    small = orjson.dumps({"objects": [indicator(1)]})
    assert taxii("acme").post(f"{coll}/objects/", small).status_code == 202


@pytest.mark.parametrize(
    "content_type",
    [
        "application/taxii+json;version=2.1",
        "application/taxii+json",
        "application/taxii+json; version=2.1; charset=utf-8",
        "application/json",
        "application/stix+json;version=2.1",
    ],
)
def test_lenient_content_types_accepted(
    world: World, taxii: Any, coll: str, content_type: str
) -> None:
    """§3.1: a defined Content-Type MUST NOT get 415; lenient extras documented."""
    body = orjson.dumps({"objects": [indicator(1)]})
    assert (
        taxii("acme").post(f"{coll}/objects/", body, content_type=content_type).status_code == 202
    )


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/taxii+json;version=2.1", 200),
        ("application/taxii+json", 200),
        ("application/taxii+json; version=2.1", 200),
        ("*/*", 200),
        ("application/json", 200),
        ("text/html, application/taxii+json;version=2.1;q=0.9", 200),
        ("application/taxii+json;version=2.0", 406),
        ("text/html", 406),
        ("application/taxii+json;version=2.1;q=0", 406),
    ],
)
def test_accept_negotiation(world: World, taxii: Any, coll: str, accept: str, status: int) -> None:
    """§3.1: a defined Accept MUST NOT get 406; undefined ones may; errors stay TAXII."""
    response = taxii("globex").get(f"{coll}/objects/", Accept=accept)
    assert response.status_code == status
    assert response["Content-Type"] == "application/taxii+json;version=2.1"


def test_manifest_accepts_stix_media_type(world: World, taxii: Any, coll: str) -> None:
    """§5.3: the manifest's listed Accept includes application/stix+json;version=2.1."""
    response = taxii("globex").get(f"{coll}/manifest/", Accept="application/stix+json;version=2.1")
    assert response.status_code == 200


def test_large_envelope_is_pending_then_processed(
    world: World, taxii: Any, coll: str, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """§5.5/§4.3: a large envelope is persisted, answered pending, processed later;
    the status is true at every moment (counts always add up to total_count)."""
    settings.INTELSHARE_INLINE_MAX_OBJECTS = 3
    objects = [indicator(n) for n in range(7)]
    objects[4] = {"type": "indicator", "id": "bogus"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = taxii("acme").post(f"{coll}/objects/", orjson.dumps({"objects": objects}))
    assert response.status_code == 202
    status = orjson.loads(response.content)
    assert (status["status"], status["pending_count"], status["total_count"]) == ("pending", 7, 7)
    assert len(callbacks) == 1  # the Celery task is enqueued after commit
    assert ObjectVersion.objects.count() == 0
    original_chunk = submissions.CHUNK
    submissions.CHUNK = 3
    try:
        submissions.process(status["id"])
    finally:
        submissions.CHUNK = original_chunk
    done = Status.objects.get(pk=status["id"])
    assert (done.status, done.success_count, done.failure_count, done.pending_count) == (
        "complete",
        6,
        1,
        0,
    )
    assert done.envelope == ""
    assert ObjectVersion.objects.count() == 6
    submissions.process(status["id"])  # re-delivery is a no-op
    assert ObjectVersion.objects.count() == 6


def test_status_purge_keeps_recent(world: World) -> None:
    """§4.3: statuses are kept at least 24 hours after completion, then purged."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    old = Status.objects.create(
        collection=world.collection,
        request_timestamp=now,
        status=Status.COMPLETE,
        completed_at=now - timedelta(hours=49),
    )
    recent = Status.objects.create(
        collection=world.collection,
        request_timestamp=now,
        status=Status.COMPLETE,
        completed_at=now - timedelta(hours=23),
    )
    assert submissions.purge(now=now) == 1
    assert list(Status.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Status.objects.filter(pk=old.pk).exists()


def test_extension_schema_violation_is_per_object_failure(
    world: World, taxii: Any, coll: str
) -> None:
    """§5.5: an object whose llm-misuse extension block breaks its schema is a
    failure with the schema error; its valid neighbour is stored."""
    from intelshare.content.extension import EXTENSION_ID

    good = indicator(
        1,
        extensions={
            EXTENSION_ID: {"extension_type": "property-extension", "abuse_category": ["jailbreak"]}
        },
    )
    bad = indicator(
        2,
        extensions={
            EXTENSION_ID: {"extension_type": "property-extension", "abuse_category": ["llm-recon"]}
        },
    )
    status = orjson.loads(
        taxii("acme").post(f"{coll}/objects/", orjson.dumps({"objects": [good, bad]})).content
    )
    assert status["success_count"] == 1 and status["failure_count"] == 1
    assert "'llm-recon' is not a valid abuse_category" in status["failures"][0]["message"]
    assert list(ObjectVersion.objects.values_list("stix_id", flat=True)) == [good["id"]]
