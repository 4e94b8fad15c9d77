"""intelshare/db/tuning.py: timestamps read through psycopg's fastest loader come back
exactly as Django's own loader gives them (aware, UTC, to the microsecond)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from intelshare.models import AuditEvent


@pytest.mark.django_db
def test_timestamps_round_trip_to_the_microsecond_in_utc() -> None:
    moments = [
        datetime(2026, 11, 27, 15, 1, 42, 915092, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=5))),
    ]
    for at in moments:
        AuditEvent.objects.create(
            at=at, method="GET", endpoint="Test", status_code=200, count=0, versions=[], filters={}
        )
    read = list(AuditEvent.objects.order_by("at").values_list("at", flat=True))
    assert read == sorted(moments)
    assert all(value.utcoffset() == timedelta(0) for value in read)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_connections_use_the_fast_loader() -> None:
    import psycopg
    from psycopg.pq import Format

    connection.ensure_connection()
    oid = psycopg.adapters.types["timestamptz"].oid
    loader = connection.connection.adapters.get_loader(oid, Format.TEXT)
    assert loader.__name__ == "UtcTimestamptzLoader"
    assert loader.fastest is psycopg.adapters.get_loader(oid, Format.TEXT)
