"""Per-connection settings of the PostgreSQL driver: ``timestamptz`` read by psycopg's C
loader behind the ``timezone`` attribute Django checks. Written against Django 5.2 and
psycopg 3.2-3.3 (``psycopg[binary]``); ``tests/intelshare/db/test_assumptions.py`` checks both."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.signals import connection_created
from psycopg.adapt import Loader
from psycopg.pq import Format


class _UtcTimestamptzLoader(Loader):
    """``timestamptz`` (text format) through psycopg's fastest loader; the
    connection's time zone is UTC, so values come back as aware UTC datetimes."""

    timezone = UTC  # what Django compares with its own before each cursor
    fastest: type[Loader]

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._load = self.fastest(oid, context).load

    def load(self, data: Any) -> Any:
        return self._load(data)


def _fast_timestamps(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "postgresql" or not settings.USE_TZ or connection.timezone != UTC:
        return
    oid = psycopg.adapters.types["timestamptz"].oid
    fastest = psycopg.adapters.get_loader(oid, Format.TEXT)  # the C one when installed
    if fastest is None:
        return
    loader = type("UtcTimestamptzLoader", (_UtcTimestamptzLoader,), {"fastest": fastest})
    connection.connection.adapters.register_loader(oid, loader)


def install() -> None:
    connection_created.connect(_fast_timestamps, dispatch_uid="intelshare.fast_timestamps")
