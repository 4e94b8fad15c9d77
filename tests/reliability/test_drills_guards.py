"""The drills' own safety rails (``python -m tools.drills`` restarts shared services)."""

from __future__ import annotations

import pytest

from sync import runs
from tools.drills import stack
from tools.drills.partners import _window
from tools.drills.traffic import Fingerprint


def test_only_drill_databases_are_ever_recreated() -> None:
    for name in ("intelshare", "postgres", "test_intelshare", "intelshare_bench"):
        with pytest.raises(ValueError, match="not a drill database"):
            stack.recreate_database(name)


def test_every_drill_address_is_loopback() -> None:
    for url in (
        stack.PG_ADMIN_URL,
        stack.BROKER_URL,
        stack.CACHE_URL,
        stack.database_url(stack.DRILL_DATABASE),
    ):
        assert "@127.0.0.1:" in url or "//127.0.0.1:" in url


def test_the_load_fingerprint_is_order_free_and_counts_repeats() -> None:
    keys = [(f"indicator--{n}", "2025-01-01T00:00:00.000Z") for n in range(50)]
    forward, backward, repeated = Fingerprint(), Fingerprint(), Fingerprint()
    for k in keys:
        forward.add(k)
        repeated.add(k)
    for k in reversed(keys):
        backward.add(k)
    repeated.add(keys[0])
    assert forward.value() == backward.value() != repeated.value()


def test_the_backoff_windows_follow_sync_services() -> None:

    for failures in (1, 2, 3):
        low, high = _window(failures, transient=True)
        for rand in (0.0, 1.0):
            delay = runs.backoff(failures, transient=True, rand=lambda r=rand: r)
            assert low <= delay + runs.RETRY_GRACE.total_seconds() <= high
