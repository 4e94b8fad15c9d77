"""Keep the cyclic garbage collector off the process's long-lived objects.

A worker holds some 100k long-lived container objects (Django, DRF, the
models, compiled schemas). Parsing a 1,000-object envelope allocates tens of
thousands of new ones, so every few requests CPython runs a full collection
that walks all of them: a pause of about 100 ms, one POST in four or five
taking twice its time. ``gc.freeze()`` once the application is loaded moves
what exists then into a permanent generation that collections skip; garbage
created by requests is still collected as before.

Written against CPython 3.11-3.13 (``gc.freeze``); ``tests/intelshare/db/test_heap.py``
fails when the freeze stops covering the loaded application.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def settle() -> None:
    """Load what the first request would (URL conf, views), then freeze the heap."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
