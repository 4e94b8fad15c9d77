"""What a partner is served of a version it may see: containers without hidden
members; in redact mode, without properties marked above its ceiling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from intelshare import stix
from intelshare.models import VersionRef
from intelshare.policy.rules import Rules

REDACTION_FIELDS = ("type", "has_refs", "granular_rank", "source_partner_id")


def redact(
    rules: Rules,
    hidden_of: Callable[[set[str]], set[str]],
    refs_of: Callable[[Sequence[int]], dict[int, list[tuple[str, str]]]],
    rows: Sequence[tuple[Any, ...]],
    raw_index: int,
) -> list[str]:
    """Serve containers without hidden members and, in redact mode, versions
    without properties marked above the ceiling (DESIGN.md; STIX caveat in the
    README: the copy keeps its id and modified although its content differs).
    ``hidden_of`` says which of some object ids the partner may not see, ``refs_of``
    the (ref, kind) pairs of some versions (by version pk)."""
    start = raw_index + 1
    info = {
        row[0]: dict(zip(REDACTION_FIELDS, row[start : start + 4], strict=True)) for row in rows
    }
    mine = {pk for pk, i in info.items() if i["source_partner_id"] == rules.partner_id}
    containers = [
        pk
        for pk, i in info.items()
        if pk not in mine and i["has_refs"] and i["type"] in stix.MEMBER_TYPES
    ]
    hidden: dict[int, set[str]] = {}
    if containers:
        refs = refs_of(containers)
        pairs = [
            (pk, ref) for pk in containers for ref, kind in refs[pk] if kind == VersionRef.MEMBER
        ]
        gone = hidden_of({ref for _, ref in pairs})
        for version_id, ref in pairs:
            if ref in gone:
                hidden.setdefault(version_id, set()).add(ref)
    out = []
    for row in rows:
        raw, meta = row[raw_index], info[row[0]]
        over = (
            rules.redact
            and row[0] not in mine
            and meta["granular_rank"] is not None
            and meta["granular_rank"] > rules.tlp_ceiling
        )
        if row[0] in hidden or over:
            obj = orjson.loads(raw)
            if row[0] in hidden:
                obj["object_refs"] = [r for r in obj["object_refs"] if r not in hidden[row[0]]]
            if over:
                remove_marked(obj, rules.tlp_ceiling)
            raw = orjson.dumps(obj).decode()
        out.append(raw)
    return out


def remove_marked(obj: dict[str, Any], ceiling: int) -> None:
    """Drop the top-level properties marked above ``ceiling`` and those markings."""
    kept = []
    for marking in obj.get("granular_markings", []):
        rank = marking_rank(marking)
        if rank is not None and rank > ceiling:
            for selector in marking["selectors"]:
                obj.pop(stix.selector_property(str(selector)), None)
        else:
            kept.append(marking)
    if kept:
        obj["granular_markings"] = kept
    else:
        obj.pop("granular_markings", None)


def marking_rank(marking: dict[str, Any]) -> int | None:
    """The TLP level of one granular marking; ``None`` for a non-TLP marking."""
    return stix.TLP_MARKINGS.get(marking.get("marking_ref", ""))
