"""PostgreSQL administration for the benchmark, and the "limit" line."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"


def url(dbname: str, *, driver: str = "postgres") -> str:
    return f"{driver}://{USER}@{HOST}:{PORT}/{dbname}"


def reachable(timeout: float = 3.0) -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(url("postgres"), connect_timeout=int(timeout)) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return None


def recreate(dbname: str) -> None:
    """Drop (forcing other sessions off) and create an empty database."""
    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        name = sql.Identifier(dbname)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop(dbname: str) -> None:
    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def scalar(dbname: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url(dbname)) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def analyze(dbname: str) -> None:
    """Refresh planner statistics after a bulk load, as autovacuum eventually would."""
    with psycopg.connect(url(dbname), autocommit=True) as conn:
        conn.execute("ANALYZE")


def settings(dbname: str) -> dict[str, str]:
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "max_connections",
    )
    with psycopg.connect(url(dbname)) as conn:
        return {
            n: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))).fetchone()[0])
            for n in names
        }  # type: ignore[index]


def copy_limit(dbname: str, collection_id: str, *, repeats: int = 2) -> dict[str, Any]:
    """Stream the collection's stored JSON in keyset order; the best of ``repeats``."""
    statement = sql.SQL(
        "COPY (SELECT raw FROM intelshare_objectversion WHERE collection_id = {} "
        "ORDER BY date_added, id) TO STDOUT"
    ).format(sql.Literal(collection_id))
    best: dict[str, Any] = {}
    with psycopg.connect(url(dbname)) as conn:
        for _ in range(repeats):
            rows = size = 0
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy(statement) as copy:
                for block in copy:
                    size += len(block)
                    rows += bytes(block).count(b"\n")
            seconds = time.perf_counter() - start
            if not best or seconds < best["seconds"]:
                best = {
                    "rows": rows,
                    "bytes": size,
                    "seconds": round(seconds, 3),
                    "objects_per_s": round(rows / seconds, 1) if seconds else None,
                }
    return best
