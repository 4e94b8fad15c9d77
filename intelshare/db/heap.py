"""Keep the cyclic garbage collector off the process's long-lived objects."""

from __future__ import annotations

import gc

from django.urls import get_resolver


def settle() -> None:
    """Load what the first request would (URL conf, views), then freeze the heap."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
