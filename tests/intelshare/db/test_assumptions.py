"""The library internals that ``intelshare/db/`` relies on are still there.

Each module of ``intelshare/db`` names the versions it was written against; these
tests fail when an upgrade moves one of the internals it uses, before a page or an
ingest silently takes the slow path or breaks.
"""

from __future__ import annotations

import django
import psycopg
import pytest
from django.db import connection
from django.db.models import Field
from django.db.models.fields.related import ForeignObject
from django.db.models.lookups import In

from intelshare.db import lookups
from intelshare.models import ObjectVersion


def test_written_against_these_library_versions() -> None:
    # Bump after re-reading the internals each module names (its docstring).
    assert django.VERSION[:2] == (5, 2)
    assert tuple(int(p) for p in psycopg.__version__.split(".")[:2]) in {(3, 2), (3, 3)}


def test_in_lookup_keeps_the_hooks_among_overrides() -> None:
    for name in ("rhs_is_direct_value", "process_lhs", "get_prep_lookup", "as_sql"):
        assert callable(getattr(In, name)), name
    assert Field.get_lookups()["among"] is lookups.Among
    assert ForeignObject.get_lookups()["among"] is lookups.RelatedAmong


@pytest.mark.django_db
def test_among_renders_one_array_parameter_on_postgresql() -> None:
    query = ObjectVersion.objects.filter(stix_id__among=["a", "b", "c"]).only("pk").query
    sql, params = query.sql_with_params()
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql
        assert params[-1] == '{"a","b","c"}'
    else:
        assert " IN (" in sql
        assert params[-3:] == ("a", "b", "c")


@pytest.mark.postgres
@pytest.mark.django_db
def test_django_still_checks_a_timezone_attribute_on_the_loader() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL driver setting")
    from django.db.backends.postgresql import psycopg_any

    # tuning's thin loader carries ``timezone`` because Django compares it before
    # each cursor and registers its own loader again when it differs.
    loader = psycopg_any.get_adapters_template(True, None).get_loader(
        psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
    )
    assert hasattr(loader, "timezone")


@pytest.mark.postgres
@pytest.mark.django_db
def test_raw_cursor_still_offers_copy() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    with connection.cursor() as cursor:
        assert callable(cursor.cursor.copy)
