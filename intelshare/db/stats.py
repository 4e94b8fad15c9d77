"""Planner statistics refreshed after bulk loads, so the first pulls after a large import do
not plan for a small table. Reads ``pg_stat_user_tables.n_mod_since_analyze`` (PostgreSQL
9.4+); ``tests/intelshare/db/test_stats.py`` fails without the refresh."""

from __future__ import annotations

import logging

from django.db import connection

logger = logging.getLogger(__name__)

TABLES = ("intelshare_objectversion", "intelshare_versionref")
MIN_ROWS = 10_000
SHARE = 0.5
CHECK_FROM = 1_000  # versions this process stores between two checks


# Versions this process stored since it last analyzed (the server's counts of changes
# lag: a backend reports them at most once a second; a load's own do not), and that
# count at its last check: a load of many small envelopes is checked as a large one.
_pending = 0
_checked = 0


def refresh_after(inserted: int) -> list[str]:
    """ANALYZE the versions tables that grew stale, counting this process's own rows
    beside the reported ones; returns the tables analyzed."""
    global _pending, _checked
    if connection.vendor != "postgresql":
        return []
    _pending += inserted
    if _pending - _checked < CHECK_FROM:
        return []
    _checked = _pending
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables"
            " WHERE relname = ANY(%s)",
            [list(TABLES)],
        )
        stale = [
            name
            for name, changed, live in cursor.fetchall()
            if max(changed, _pending) >= max(MIN_ROWS, SHARE * live)
        ]
        for name in stale:
            cursor.execute(f'ANALYZE "{name}"')  # a name from TABLES, not input
    if stale:
        _pending = _checked = 0
        logger.info("analyzed %s after %d new versions", ", ".join(stale), inserted)
    return stale
