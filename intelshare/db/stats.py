"""Planner statistics refreshed after bulk loads (PostgreSQL).

Right after a large import the planner still holds the statistics of a small table
until autovacuum gets to it, and plans partner pages for that table (measured in
the issue-16 harness: pages 2-4x slower until then). After a store commits, the
versions tables are analyzed when the rows changed since their last ANALYZE reach
``max(MIN_ROWS, SHARE * live rows)``: at most one ANALYZE each time the table grows by half.

Reads ``pg_stat_user_tables.n_mod_since_analyze`` (PostgreSQL 9.4+), whose counts a
backend reports at most once a second, so the rows just committed are added.
``tests/intelshare/db/test_stats.py`` checks that a large load leaves the tables
analyzed.
"""

from __future__ import annotations

import logging

from django.db import connection

logger = logging.getLogger(__name__)

TABLES = ("intelshare_objectversion", "intelshare_versionref")
MIN_ROWS = 10_000
SHARE = 0.5
CHECK_FROM = 1_000  # smaller stores never trigger a check


def refresh_after(inserted: int) -> list[str]:
    """ANALYZE the versions tables that grew stale, counting ``inserted`` rows not
    yet reported; returns the tables analyzed."""
    if connection.vendor != "postgresql" or inserted < CHECK_FROM:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables"
            " WHERE relname = ANY(%s)",
            [list(TABLES)],
        )
        stale = [
            name
            for name, changed, live in cursor.fetchall()
            if changed + inserted >= max(MIN_ROWS, SHARE * (live + inserted))
        ]
        for name in stale:
            cursor.execute(f'ANALYZE "{name}"')  # a name from TABLES, not input
    if stale:
        logger.info("analyzed %s after %d new versions", ", ".join(stale), inserted)
    return stale
