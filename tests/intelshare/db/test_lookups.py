"""``field__among`` (intelshare/db/lookups.py): the same rows as ``field__in``, sent to
PostgreSQL as one array parameter instead of one placeholder per value."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from intelshare import ingest
from intelshare.db.lookups import Many, array_literal
from intelshare.models import Collection, ObjectVersion, VersionRef
from tests.factories import World, indicator, malware


@pytest.fixture
def stored(world: World) -> list[ObjectVersion]:
    objects = [indicator(n) for n in range(40)] + [malware(n) for n in range(3)]
    relationship = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--2f8a7f0e-0f6c-4a8e-9a43-0f5f6c1d2e3a",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": objects[0]["id"],
        "target_ref": objects[-1]["id"],
    }
    ingest.store(collection=world.collection, objects=[*objects, relationship])
    return list(ObjectVersion.objects.filter(collection=world.collection).order_by("pk"))


def test_among_selects_what_in_selects(stored: list[ObjectVersion]) -> None:
    ids = [v.stix_id for v in stored[::3]] + ["indicator--00000000-0000-4000-8000-000000000000"]
    pks = [v.pk for v in stored]
    assert sorted(
        ObjectVersion.objects.filter(stix_id__among=ids).values_list("pk", flat=True)
    ) == sorted(ObjectVersion.objects.filter(stix_id__in=ids).values_list("pk", flat=True))
    assert sorted(
        VersionRef.objects.filter(version_id__among=pks).values_list("ref", flat=True)
    ) == sorted(VersionRef.objects.filter(version_id__in=pks).values_list("ref", flat=True))
    assert VersionRef.objects.filter(version_id__among=pks).count() == 2


def test_many_selects_the_same_rows_as_a_list(stored: list[ObjectVersion]) -> None:
    ids = [v.stix_id for v in stored[::2]]
    pks = [v.pk for v in stored]
    assert sorted(
        ObjectVersion.objects.filter(stix_id__among=Many(ids)).values_list("pk", flat=True)
    ) == sorted(ObjectVersion.objects.filter(stix_id__in=ids).values_list("pk", flat=True))
    assert VersionRef.objects.filter(version_id__among=Many(pks)).count() == 2
    assert not ObjectVersion.objects.filter(stix_id__among=Many(["x--1"])).exists()


def test_among_is_one_array_parameter_on_postgresql(stored: list[ObjectVersion]) -> None:
    ids = [v.stix_id for v in stored]
    with CaptureQueriesContext(connection) as captured:
        assert ObjectVersion.objects.filter(stix_id__among=ids).count() == len(ids)
    sql = captured.captured_queries[-1]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and " IN (" not in sql
    else:
        assert " IN (" in sql


AWKWARD = [
    "plain",
    "",
    "a,b",
    "{braces}",
    'double "quoted"',
    "back\\slash",
    "trailing\\",
    "NULL",
    "null",
    " spaced ",
    "ünïcode ✓",
    "'single'",
    "new\nline",
    "tab\there",
]


@pytest.mark.postgres
def test_array_literal_round_trips_awkward_text_through_postgresql(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::text[])", [array_literal(AWKWARD)])
        assert [row[0] for row in cursor.fetchall()] == AWKWARD
        cursor.execute("SELECT unnest(%s::bigint[])", [array_literal([1, -2, 2**62])])
        assert [row[0] for row in cursor.fetchall()] == [1, -2, 2**62]


def test_among_matches_awkward_values_exactly(world: World) -> None:
    """Whatever a value holds, it matches itself and nothing else (both backends)."""
    for n, name in enumerate(AWKWARD):
        Collection.objects.create(api_root=world.api_root, title=name, alias=f"awkward-{n}")
    wanted = ["a,b", 'double "quoted"', "back\\slash", "NULL", "{braces}"]
    found = Collection.objects.filter(title__among=wanted).values_list("title", flat=True)
    assert sorted(found) == sorted(wanted)
