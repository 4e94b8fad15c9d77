"""Keep the cyclic garbage collector off the process's long-lived objects: ``gc.freeze()``
after start-up (full collections paused a worker ~100 ms every few POSTs). Written against
CPython 3.11-3.13; ``tests/intelshare/db/test_heap.py`` fails when the freeze stops covering
the loaded application."""

from __future__ import annotations

import gc

from django.urls import get_resolver


def settle() -> None:
    """Load what the first request would (URL conf, views), then freeze the heap."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
