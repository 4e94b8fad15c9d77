"""The ingest path's bulk reads and writes (intelshare/db/bulk.py): COPY on PostgreSQL,
bulk_create on SQLite, and on both the same rows, keys and errors."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
from django.db import DataError, transaction

from intelshare import ingest, stix
from intelshare.content.generator import generate
from intelshare.db import bulk
from intelshare.models import ObjectVersion, Partner, VersionRef
from tests.factories import World, indicator


def test_every_column_and_reference_is_stored_as_inspected(world: World) -> None:
    """Generated content (markings, granular markings, refs, revocations, several
    versions of an object): each stored row holds its object's facts, and its
    VersionRef rows are exactly its own references."""
    partner = Partner.objects.get(slug="acme")
    objects = list(generate(400, 11))
    result = ingest.store(
        collection=world.collection,
        objects=objects,
        source_partner=partner,
        default_tlp=stix.TLP_AMBER,
        origin="feed:1/run:2",
    )
    assert (result.new, result.failed) == (len(objects), 0)
    refs: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for version_id, ref, kind in VersionRef.objects.values_list("version_id", "ref", "kind"):
        refs[version_id].add((ref, kind))
    rows = ObjectVersion.objects.filter(collection=world.collection)
    by_version = {(row.stix_id, row.version): row for row in rows}
    assert len(by_version) == len(objects)
    for obj in objects:
        facts = stix.inspect(obj)
        row = by_version[(facts.stix_id, facts.version)]
        assert orjson.loads(row.raw) == obj
        assert (
            row.type,
            row.spec_version,
            row.tlp_rank,
            row.has_granular,
            row.granular_rank,
            row.granular_required_rank,
            row.revoked,
            row.has_refs,
        ) == (
            facts.type,
            facts.spec_version,
            stix.TLP_AMBER if facts.tlp_rank is None else facts.tlp_rank,
            facts.has_granular,
            facts.granular_rank,
            facts.granular_required_rank,
            facts.revoked,
            bool(facts.refs),
        )
        assert (row.source_partner_id, row.origin) == (partner.pk, "feed:1/run:2")
        assert refs[row.pk] == set(facts.refs)


def test_keys_and_date_added_follow_envelope_order(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(30)])
    rows = list(ObjectVersion.objects.order_by("pk").values_list("stix_id", "date_added"))
    assert [sid for sid, _ in rows] == [indicator(n)["id"] for n in range(30)]
    assert [added for _, added in rows] == sorted(added for _, added in rows)


def test_resent_large_envelope_is_all_duplicates_and_new_versions_take_latest(world: World) -> None:
    """More ids than one lookup batch on SQLite (500), on both backends."""
    count = 1200
    assert (
        ingest.store(collection=world.collection, objects=[indicator(n) for n in range(count)]).new
        == count
    )
    again = ingest.store(collection=world.collection, objects=[indicator(n) for n in range(count)])
    assert (again.new, again.duplicate) == (0, count)
    newer = ingest.store(
        collection=world.collection, objects=[indicator(n, version=1) for n in range(0, count, 2)]
    )
    assert newer.new == count // 2
    latest = dict(ObjectVersion.objects.filter(is_latest=True).values_list("stix_id", "version"))
    assert len(latest) == count
    for n in range(count):
        expected = indicator(n, version=1 if n % 2 == 0 else 0)["modified"]
        assert latest[indicator(n)["id"]] == stix.parse_timestamp(expected)


def test_select_by_keys_reads_what_the_orm_reads(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(n) for n in range(600)])
    ingest.store(collection=world.other, objects=[indicator(n) for n in range(5)])
    wanted = [indicator(n)["id"] for n in range(0, 600, 3)] + [indicator(9999)["id"]]
    found = bulk.select_by_keys(
        ObjectVersion,
        where={"collection_id": world.collection.pk},
        key="stix_id",
        values=wanted,
        columns=("id", "stix_id"),
    )
    expected = ObjectVersion.objects.filter(collection=world.collection, stix_id__in=wanted)
    assert sorted(found) == sorted(expected.values_list("id", "stix_id"))
    assert (
        bulk.select_by_keys(
            ObjectVersion,
            where={"collection_id": world.collection.pk},
            key="stix_id",
            values=[],
            columns=("id",),
        )
        == []
    )


@pytest.mark.postgres
def test_bulk_insert_raises_djangos_errors(world: World) -> None:
    """On the COPY path too, a value the column refuses is Django's DataError."""
    ingest.store(collection=world.collection, objects=[indicator(1)])
    version_id = ObjectVersion.objects.get().pk
    too_long: list[tuple[Any, ...]] = [(version_id, indicator(2)["id"], "x" * 11)]
    with pytest.raises(DataError), transaction.atomic():
        bulk.insert(VersionRef, ("version_id", "ref", "kind"), too_long)
    assert not VersionRef.objects.exists()
