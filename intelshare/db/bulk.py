"""Bulk reads and writes for ingest: COPY and array joins on PostgreSQL, the ORM elsewhere.
Written against Django 5.2 (``_meta.get_field(...).column``, ``pg_get_serial_sequence``) and
psycopg 3.2-3.3 (``cursor.copy``); ``tests/intelshare/db/test_assumptions.py`` checks both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from intelshare.db.lookups import array_literal

# Rows per INSERT and keys per IN (…) on the ORM path: SQLite limits bound parameters.
_BATCH = 500

Row = Sequence[Any]


def insert(model: type[Model], fields: Sequence[str], rows: Sequence[Row]) -> None:
    """Insert ``rows`` into ``model``'s table."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy(model, fields, rows)
    else:
        _bulk_create(model, fields, rows)


def insert_returning_pks(
    model: type[Model], fields: Sequence[str], rows: Sequence[Row]
) -> list[int]:
    """Insert ``rows`` into ``model``'s table; returns their primary keys, in order
    (on PostgreSQL drawn from the sequence first, as COPY returns nothing).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        return [obj.pk for obj in _bulk_create(model, fields, rows)]
    pks = _reserve_pks(model, len(rows))
    _copy(
        model,
        [model._meta.pk.attname, *fields],
        [(pk, *row) for pk, row in zip(pks, rows, strict=True)],
    )
    return pks


def select_by_keys(
    model: type[Model],
    *,
    where: dict[str, Any],
    key: str,
    values: Sequence[Any],
    columns: Sequence[str],
) -> list[tuple[Any, ...]]:
    """``columns`` of the rows matching ``where`` (equality on each item) whose
    ``key`` is one of ``values`` (distinct); an index on the ``where`` columns
    then ``key`` serves it."""
    if not values:
        return []
    if connection.vendor == "postgresql":
        return _join_select(model, where, key, values, columns)
    manager = model._default_manager
    return [
        row
        for start in range(0, len(values), _BATCH)
        for row in manager.filter(
            **where, **{f"{key}__in": values[start : start + _BATCH]}
        ).values_list(*columns)
    ]


def _column(model: type[Model], name: str) -> tuple[Field[Any, Any], str]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field, field.column


def _join_select(
    model: type[Model],
    where: dict[str, Any],
    key: str,
    values: Sequence[Any],
    columns: Sequence[str],
) -> list[tuple[Any, ...]]:
    meta = model._meta
    quote = connection.ops.quote_name
    names = [*where, key]
    fields = [_column(model, name) for name in names]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field, _ in fields)
    wanted = ", ".join(f"w{i}" for i in range(len(names)))
    conditions = " AND ".join(
        f"t.{quote(column)} = wanted.w{i}" for i, (_, column) in enumerate(fields)
    )
    selected = ", ".join(f"t.{quote(_column(model, name)[1])}" for name in columns)
    sql = (
        f"SELECT {selected} FROM unnest({arrays}) AS wanted({wanted})"
        f" JOIN {quote(meta.db_table)} AS t ON {conditions}"
    )
    params = [array_literal([value] * len(values)) for value in where.values()]
    params.append(array_literal(values))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _bulk_create(model: type[Model], fields: Sequence[str], rows: Sequence[Row]) -> list[Model]:
    objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
    return model._default_manager.bulk_create(objs, batch_size=_BATCH)


def _reserve_pks(model: type[Model], count: int) -> list[int]:
    """``count`` fresh values of the primary key's sequence, ascending, so keys
    follow row order as they would with an INSERT."""
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s))::regclass)"
            " FROM generate_series(1, %s)",
            [connection.ops.quote_name(meta.db_table), meta.pk.column, count],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def _copy(model: type[Model], fields: Sequence[str], rows: Sequence[Row]) -> None:
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(model, name)[1]) for name in fields)
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    # The raw psycopg cursor does the COPY; Django's error wrapper keeps the
    # exceptions callers see (IntegrityError, DataError…) the same as an INSERT's.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)
