"""Planner statistics after a bulk load: the versions tables are analyzed once the
rows changed since their last ANALYZE reach autovacuum's share (intelshare.db.stats)."""

from __future__ import annotations

from itertools import islice

import pytest
from django.db import connection

from intelshare import ingest
from intelshare.content.generator import generate
from intelshare.db import stats
from tests.factories import World

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _estimated_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return float(cursor.fetchone()[0])


@pytest.mark.parametrize("envelope", [2_000, 100])
def test_a_large_load_leaves_the_versions_tables_analyzed(
    world: World, monkeypatch: pytest.MonkeyPatch, envelope: int
) -> None:
    """In envelopes of 2,000, and of 100 (a load by small POSTs: each too small to
    check, together as large)."""
    monkeypatch.setattr(stats, "_pending", 0)  # what this process stored in earlier tests
    monkeypatch.setattr(stats, "_checked", 0)
    with connection.cursor() as cursor:  # earlier tests' deletes count as changes
        for table in stats.TABLES:
            cursor.execute(f'ANALYZE "{table}"')
    objects = generate(12_000, seed=3)
    while chunk := list(islice(objects, envelope)):
        assert ingest.store(collection=world.collection, objects=chunk).failed == 0
    # The estimate after the reset is 0 until an ANALYZE; the hook ran at 10,000.
    assert _estimated_rows("intelshare_objectversion") >= 10_000
    assert _estimated_rows("intelshare_versionref") > 0


def test_a_small_store_alone_never_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "_pending", 0)
    monkeypatch.setattr(stats, "_checked", 0)
    assert stats.refresh_after(stats.CHECK_FROM - 1) == []
