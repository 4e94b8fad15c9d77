"""Synthetic STIX 2.1 content for the drills (no Django; shared by every process)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
_NAMESPACE = uuid.UUID("3c0d8f0e-8a4b-4c55-9d0e-6b7f9a1d2e00")
_BASE = datetime(2025, 1, 1, tzinfo=UTC)


def stamp(value: datetime) -> str:
    """A STIX timestamp with milliseconds (what ``stix.format_version`` prints back)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def indicator(label: str, n: int) -> dict[str, Any]:
    """Indicator ``n`` of ``label``: a fresh id per (label, n), TLP:GREEN so that
    every partner of the drills may receive it (no originator-control surprises)."""
    created = _BASE + timedelta(milliseconds=n)
    ts = stamp(created)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(_NAMESPACE, f'{label}/{n}')}",
        "created": ts,
        "modified": ts,
        "name": f"SYNTHETIC drill {label} prompt-injection marker {n}",
        "pattern": f"[url:value = 'https://{label}.drill.invalid/{n}']",
        "pattern_type": "stix",
        "valid_from": ts,
        "object_marking_refs": [TLP2_GREEN],
    }


def batch(label: str, start: int, count: int) -> list[dict[str, Any]]:
    return [indicator(label, n) for n in range(start, start + count)]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    """(id, version) of an object as the hub reports it in status resources."""
    return obj["id"], obj.get("modified") or obj.get("created") or ""
