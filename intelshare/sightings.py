"""Partners' sightings: checked, routed and rolled up."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from intelshare import ingest, policy, stix
from intelshare.models import Agreement, Collection, Grant, Partner, VersionRef
from intelshare.stixids import HUB_IDENTITY_ID

ROLLUP_ORIGIN = "rollup"
PARTNERS_PROPERTY = "x_intelshare_partners"
_NAMESPACE = uuid.UUID("5b0c6a51-2f7e-4f43-9a0e-6c1d3f0e7a21")
_COUNT_MAX = 999_999_999  # STIX 2.1 §5.7 (sighting count)
_MS = timedelta(milliseconds=1)


def rollup_id(collection: Collection, sighted: str) -> str:
    return f"sighting--{uuid.uuid5(_NAMESPACE, f'{collection.pk}/{sighted}')}"


def _is_sighting(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "sighting"


def _mode(partner: Partner, collection: Collection) -> str:
    grant = (
        Grant.objects.filter(partner=partner, collection=collection)
        .select_related("agreement")
        .first()
    )
    return grant.agreement.sightings if grant is not None else Agreement.UNSHARED


def _latest_raw(collection: Collection, stix_id: str) -> tuple[dict[str, Any], int | None] | None:
    found = (
        policy.catalogue(collection=collection)
        .filter(stix_id=stix_id, is_latest=True)
        .values_list("raw", "source_partner_id")
        .first()
    )
    return None if found is None else (orjson.loads(found[0]), found[1])


def store(
    *,
    collection: Collection,
    objects: Sequence[Any],
    source_partner: Partner | None,
    origin: str = "",
    default_tlp: int | None = None,
) -> ingest.StoreResult:
    """``ingest.store`` for what a partner sends, with its sightings checked, routed
    and counted in the roll-ups."""
    if source_partner is None or not any(_is_sighting(o) for o in objects):
        return ingest.store(
            collection=collection,
            objects=objects,
            source_partner=source_partner,
            origin=origin,
            default_tlp=default_tlp,
        )
    now = timezone.now()
    view = policy.visible(partner=source_partner, collection=collection, now=now)
    mode = _mode(source_partner, collection)
    seen: dict[str, bool] = {}
    refused: dict[int, ingest.Outcome] = {}
    routes: dict[str, int] = {}
    kept: list[Any] = []
    for i, obj in enumerate(objects):
        if not _is_sighting(obj):
            kept.append(obj)
            continue
        target = obj.get("sighting_of_ref")
        if isinstance(target, str) and target not in seen:
            seen[target] = view.exists(target)
        if not isinstance(target, str) or not seen[target]:
            sid, version = ingest.describe(obj)
            refused[i] = ingest.Outcome(
                sid, version, ok=False, message=f"sighting_of_ref: no such object: {target}"
            )
            continue
        kept.append(obj)
        if mode == Agreement.NAMED and isinstance(obj.get("id"), str):
            latest = _latest_raw(collection, target)
            if latest is not None and latest[1] not in (None, source_partner.pk):
                routes[obj["id"]] = latest[1]
    with transaction.atomic():
        stored = ingest.store(
            collection=collection,
            objects=kept,
            source_partner=source_partner,
            origin=origin,
            default_tlp=default_tlp,
            routes=routes,
        )
        if mode != Agreement.UNSHARED:
            targets = {
                o["sighting_of_ref"]
                for o, outcome in zip(kept, stored.outcomes, strict=True)
                if _is_sighting(o) and outcome.stored
            }
            refresh(collection=collection, sighted=targets)
    outcomes = iter(stored.outcomes)
    return ingest.StoreResult([refused.get(i) or next(outcomes) for i in range(len(objects))])


def _partner_sightings(collection: Collection, sighted: str) -> list[tuple[int, dict[str, Any]]]:
    """The latest version of every partner's sighting of ``sighted`` in ``collection``."""
    rows = VersionRef.objects.filter(
        ref=sighted,
        kind=VersionRef.ENDPOINT,
        version__collection=collection,
        version__type="sighting",
        version__is_latest=True,
        version__source_partner__isnull=False,
    ).values_list("version__source_partner_id", "version__raw")
    found = []
    for partner_id, raw in rows:
        obj = orjson.loads(raw)
        if obj.get("sighting_of_ref") == sighted:
            found.append((partner_id, obj))
    return found


def _totals(sightings: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    count, partners = 0, set()
    first: tuple[datetime, str] | None = None
    last: tuple[datetime, str] | None = None
    for partner_id, obj in sightings:
        value = obj.get("count")
        count += value if isinstance(value, int) and value >= 0 else 1
        partners.add(partner_id)
        if isinstance(obj.get("first_seen"), str):
            seen = (stix.parse_timestamp(obj["first_seen"]), obj["first_seen"])
            first = seen if first is None else min(first, seen)
        if isinstance(obj.get("last_seen"), str):
            seen = (stix.parse_timestamp(obj["last_seen"]), obj["last_seen"])
            last = seen if last is None else max(last, seen)
    totals: dict[str, Any] = {"count": min(count, _COUNT_MAX), PARTNERS_PROPERTY: len(partners)}
    if first is not None:
        totals["first_seen"] = first[1]
    if last is not None:
        totals["last_seen"] = last[1]
    return totals


def refresh(*, collection: Collection, sighted: Iterable[str]) -> int:
    """A new roll-up version for each of ``sighted`` whose totals changed; returns how
    many were stored."""
    rollups = []
    for target in sorted(sighted):
        obj = _rollup(collection, target)
        if obj is not None:
            rollups.append(obj)
    if not rollups:
        return 0
    return ingest.store(collection=collection, objects=rollups, origin=ROLLUP_ORIGIN).new


def _rollup(collection: Collection, target: str) -> dict[str, Any] | None:
    modes = dict(
        Grant.objects.filter(collection=collection).values_list(
            "partner_id", "agreement__sightings"
        )
    )
    counted = [
        (p, obj)
        for p, obj in _partner_sightings(collection, target)
        if modes.get(p, Agreement.UNSHARED) != Agreement.UNSHARED
    ]
    rid = rollup_id(collection, target)
    previous = _latest_raw(collection, rid)
    totals = _totals(counted)
    if previous is None and not counted:
        return None
    keys = ("count", PARTNERS_PROPERTY, "first_seen", "last_seen")
    if previous is not None and all(previous[0].get(k) == totals.get(k) for k in keys):
        return None
    sighted = _latest_raw(collection, target)
    now = timezone.now()
    if previous is not None:
        now = max(now, stix.parse_timestamp(previous[0]["modified"]) + _MS)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": rid,
        "created": previous[0]["created"] if previous is not None else stamp,
        "modified": stamp,
        "created_by_ref": HUB_IDENTITY_ID,
        "sighting_of_ref": target,
        "summary": True,
        **totals,
    }
    markings = sighted[0].get("object_marking_refs") if sighted is not None else None
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def seen(collection_ids: Iterable[Any], stix_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest roll-up totals of each of ``stix_ids`` (staff: every collection)."""
    wanted = list(stix_ids)
    if not wanted:
        return {}
    rows = VersionRef.objects.filter(
        ref__in=wanted,
        kind=VersionRef.ENDPOINT,
        version__collection_id__in=list(collection_ids),
        version__type="sighting",
        version__is_latest=True,
        version__origin=ROLLUP_ORIGIN,
    ).values_list("ref", "version__raw")
    found: dict[str, dict[str, Any]] = {}
    for ref, raw in rows:
        obj = orjson.loads(raw)
        mine = found.setdefault(ref, {"count": 0, "partners": 0, "last_seen": None})
        mine["count"] += obj.get("count", 0)
        mine["partners"] = max(mine["partners"], obj.get(PARTNERS_PROPERTY, 0))
        last = obj.get("last_seen")
        if last and (mine["last_seen"] is None or last > mine["last_seen"]):
            mine["last_seen"] = last
    return found
