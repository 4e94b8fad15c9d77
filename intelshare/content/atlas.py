"""MITRE ATLAS import: repair the known defects of MITRE's STIX 2.1 bundle."""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from intelshare.stix import SCO_TYPES, parse_timestamp

logger = logging.getLogger(__name__)

#: Namespace of the replacement relationship ids.
REKEY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://intelshare.example/atlas/rekey")

FIX_KINDS = (
    "spec_version",
    "timestamps-missing",
    "modified-before-created",
    "relationship-rekeyed",
    "dangling-created-by-ref",
    "collection-contents",
    "dropped-duplicate",
    "dropped-conflict",
    "dropped-invalid",
)


@dataclass(frozen=True, slots=True)
class Fix:
    """One change made to the bundle: which object, what, before → after."""

    object_id: str
    kind: str
    what: str
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        return f"{self.object_id}: {self.what}: {self.before!r} -> {self.after!r}"


def _canonical(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _stamp(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None  # left as is: ingest rejects it with its own message


def _needs_timestamps(obj: dict[str, Any]) -> bool:
    return obj["type"] not in SCO_TYPES and obj["type"] != "marking-definition"


def _newest(objects: list[dict[str, Any]]) -> str | None:
    best: tuple[datetime, str] | None = None
    for obj in objects:
        for prop in ("modified", "created"):
            value = obj.get(prop)
            if value is None:
                continue
            stamp = _stamp(value)
            if stamp is not None and (best is None or stamp > best[0]):
                best = (stamp, value)
    return best[1] if best else None


def _fix_timestamps(obj: dict[str, Any], newest: str | None, fixes: list[Fix]) -> None:
    oid = obj["id"]
    if not _needs_timestamps(obj):
        return
    created, modified = obj.get("created"), obj.get("modified")
    if created is None or modified is None:
        fill = created or modified or newest
        if fill is None:
            return  # nothing to go by; ingest will say what is missing
        for prop in ("created", "modified"):
            if obj.get(prop) is None:
                obj[prop] = fill
                fixes.append(Fix(oid, "timestamps-missing", f"missing {prop} set", None, fill))
        return
    c, m = _stamp(created), _stamp(modified)
    if c is not None and m is not None and m < c:
        obj["modified"] = created
        fixes.append(
            Fix(
                oid,
                "modified-before-created",
                "modified earlier than created; set to created",
                modified,
                created,
            )
        )


def _rekey(objects: list[dict[str, Any]], fixes: list[Fix]) -> dict[str, list[str]]:
    """New ids for relationships sharing an id but not their endpoints."""
    groups: dict[str, set[tuple[str, str, str]]] = {}
    for obj in objects:
        if obj["type"] == "relationship":
            ends = (obj.get("relationship_type"), obj.get("source_ref"), obj.get("target_ref"))
            groups.setdefault(obj["id"], set()).add(ends)  # type: ignore[arg-type]
    clashing = {oid for oid, ends in groups.items() if len(ends) > 1}
    renamed: dict[str, list[str]] = {}
    for obj in objects:
        old = obj["id"]
        if old not in clashing:
            continue
        key = "|".join(
            (
                old,
                obj.get("relationship_type", ""),
                obj.get("source_ref", ""),
                obj.get("target_ref", ""),
            )
        )
        new = f"relationship--{uuid.uuid5(REKEY_NAMESPACE, key)}"
        obj["id"] = new
        if new not in renamed.setdefault(old, []):
            renamed[old].append(new)
            fixes.append(
                Fix(
                    old,
                    "relationship-rekeyed",
                    f"id shared by {len(groups[old])} different relationships;"
                    f" this one ({obj.get('source_ref')} -> "
                    f"{obj.get('target_ref')}) re-keyed",
                    old,
                    new,
                )
            )
    return renamed


def _dedupe(objects: list[dict[str, Any]], fixes: list[Fix]) -> list[dict[str, Any]]:
    """Drop exact copies and same-version conflicts (first one wins), reported."""
    kept: list[dict[str, Any]] = []
    seen: dict[tuple[str, Any], bytes] = {}
    for obj in objects:
        key = (obj["id"], obj.get("modified", obj.get("created")))
        body = _canonical(obj)
        if key not in seen:
            seen[key] = body
            kept.append(obj)
        elif seen[key] == body:
            fixes.append(
                Fix(
                    obj["id"],
                    "dropped-duplicate",
                    "exact copy of an earlier object dropped",
                    key[1],
                    None,
                )
            )
        else:
            fixes.append(
                Fix(
                    obj["id"],
                    "dropped-conflict",
                    "same id and version as an earlier object but different "
                    "content; the earlier one kept",
                    key[1],
                    None,
                )
            )
    return kept


def _fix_collection(
    obj: dict[str, Any], renamed: dict[str, list[str]], modified: dict[str, Any], fixes: list[Fix]
) -> None:
    contents = obj.get("x_mitre_contents")
    if not isinstance(contents, list):
        return
    out: list[Any] = []
    done: set[str] = set()
    for entry in contents:
        ref: str | None = entry.get("object_ref") if isinstance(entry, dict) else None
        if ref in renamed:
            if ref not in done:
                done.add(ref)
                out.extend(
                    {"object_ref": new, "object_modified": modified[new]} for new in renamed[ref]
                )
                fixes.append(
                    Fix(
                        obj["id"],
                        "collection-contents",
                        f"x_mitre_contents entries for re-keyed {ref}",
                        ref,
                        renamed[ref],
                    )
                )
            continue
        current = modified.get(ref) if ref is not None else None
        if current is not None and entry.get("object_modified") != current:
            fixes.append(
                Fix(
                    obj["id"],
                    "collection-contents",
                    f"x_mitre_contents object_modified of {ref}",
                    entry.get("object_modified"),
                    current,
                )
            )
            entry = {**entry, "object_modified": current}
        out.append(entry)
    obj["x_mitre_contents"] = out


def normalise_atlas(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Fix]]:
    """The bundle's objects repaired, and every repair; the input is not modified.
    Raises ``ValueError`` if ``bundle`` is not a STIX bundle with an ``objects`` list.
    """
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise ValueError("not a STIX bundle (type must be 'bundle')")
    raw_objects = bundle.get("objects")
    if not isinstance(raw_objects, list):
        raise ValueError("the bundle has no 'objects' list")
    fixes: list[Fix] = []
    objects: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_objects):
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("id"), str)
            or not isinstance(raw.get("type"), str)
        ):
            label = raw.get("id") if isinstance(raw, dict) else None
            fixes.append(
                Fix(
                    str(label or f"objects[{index}]"),
                    "dropped-invalid",
                    "not a STIX object with a type and an id",
                    None,
                    None,
                )
            )
            continue
        objects.append(copy.deepcopy(raw))
    newest = _newest(objects)
    for obj in objects:
        if "spec_version" not in obj:
            obj["spec_version"] = "2.1"
            fixes.append(Fix(obj["id"], "spec_version", "missing spec_version set", None, "2.1"))
        _fix_timestamps(obj, newest, fixes)
    renamed = _rekey(objects, fixes)
    objects = _dedupe(objects, fixes)
    ids = {obj["id"] for obj in objects}
    modified = {obj["id"]: obj.get("modified") for obj in objects}
    for obj in objects:
        ref = obj.get("created_by_ref")
        if ref is not None and ref not in ids:
            del obj["created_by_ref"]
            fixes.append(
                Fix(
                    obj["id"],
                    "dangling-created-by-ref",
                    "created_by_ref names an identity not in the bundle; removed",
                    ref,
                    None,
                )
            )
        if obj["type"] == "x-mitre-collection":
            _fix_collection(obj, renamed, modified, fixes)
    logger.info(
        "ATLAS bundle normalised: %d objects in, %d out, %d fixes",
        len(raw_objects),
        len(objects),
        len(fixes),
    )
    return objects, fixes


def import_atlas(bundle: dict[str, Any], *, collection: Any) -> tuple[list[Fix], Any]:
    """Normalise ``bundle`` and store it in ``collection`` through ``ingest`` as the hub's
    own; returns the fixes and the store result.
    """
    from intelshare import ingest  # Django app code: imported only when storing

    objects, fixes = normalise_atlas(bundle)
    result = ingest.store(
        collection=collection, objects=objects, source_partner=None, origin="atlas"
    )
    return fixes, result
