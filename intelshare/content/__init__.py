"""Content the hub ships or makes: the llm-misuse extension, the starter pack, the
ATLAS import and the synthetic generator; helpers for their commands.
"""

from __future__ import annotations

import uuid
from typing import Any


def resolve_collection(ref: str, *, api_root: str | None = None) -> Any:
    """The collection named by id or alias, optionally in one API root; ``LookupError``
    when there is none or the alias is ambiguous.
    """
    from intelshare.models import Collection  # Django models: only when called

    found = Collection.objects.select_related("api_root")
    if api_root is not None:
        found = found.filter(api_root__slug=api_root)
    try:
        found = found.filter(id=uuid.UUID(ref))
    except ValueError:
        found = found.filter(alias=ref)
    matches = list(found[:2])
    where = f" in API root {api_root!r}" if api_root is not None else ""
    if not matches:
        raise LookupError(f"no collection {ref!r}{where}")
    if len(matches) > 1:
        raise LookupError(f"alias {ref!r} exists in several API roots; pass --api-root")
    return matches[0]


def describe_result(result: Any) -> tuple[str, list[str]]:
    """(summary line, one line per failed object) of an ``ingest.store`` result."""
    summary = f"stored {result.new}, duplicate {result.duplicate}, failed {result.failed}"
    failures = [
        f"failed {o.id or '?'} {o.version}: {o.message}" for o in result.outcomes if not o.ok
    ]
    return summary, failures
