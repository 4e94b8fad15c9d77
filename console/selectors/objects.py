"""The object browser's reads: search, the object page, who received what (staff
only; what a partner receives is decided by ``intelshare.policy`` alone)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import orjson
from django.db.models import Exists, OuterRef, QuerySet

from console.selectors.dashboard import origin_kind, partners
from intelshare import audit, policy, sightings, stix
from intelshare.models import Collection, ObjectVersion, Partner, VersionRef

# --- objects ----------------------------------------------------------------------------

SEARCH_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Hit:
    stix_id: str
    type: str
    name: str
    tlp: str | None
    collection: Collection
    date_added: datetime
    version: str
    origin: str
    source_partner: Partner | None
    external_ids: tuple[str, ...]
    seen: dict[str, Any] | None = None  # the hub's roll-up of partners' sightings


def _parsed(raw: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True, slots=True)
class Search:
    q: str = ""
    type: str = ""
    tlp: int | None = None
    source_partner: int | None = None
    origin: str = ""
    collection: str = ""
    added_from: date | None = None
    added_to: date | None = None
    hit: bool = False  # sighted by partners (a roll-up exists)


def _searched(s: Search) -> QuerySet[ObjectVersion]:
    """The latest versions matching ``s``, newest first: a STIX id exactly, other
    text anywhere in a name, alias or external id (``ObjectVersion.label``, trigram
    indexed on PostgreSQL)."""
    qs: QuerySet[ObjectVersion] = policy.catalogue().filter(is_latest=True)
    text = s.q.strip()
    if text and stix.IDENTIFIER.fullmatch(text):
        qs = qs.filter(stix_id=text)
    elif text:
        qs = qs.filter(label__contains=text.lower())
    if s.type:
        qs = qs.filter(type=s.type)
    if s.tlp is not None:
        qs = qs.filter(tlp_rank=s.tlp)
    if s.source_partner is not None:
        qs = qs.filter(source_partner_id=s.source_partner)
    if s.origin:
        qs = qs.annotate(kind=origin_kind()).filter(kind=s.origin)
    if s.collection:
        qs = qs.filter(collection_id=s.collection)
    if s.added_from:
        qs = qs.filter(date_added__date__gte=s.added_from)
    if s.added_to:
        qs = qs.filter(date_added__date__lte=s.added_to)
    if s.hit:
        rollups = VersionRef.objects.filter(
            ref=OuterRef("stix_id"),
            kind=VersionRef.ENDPOINT,
            version__collection_id=OuterRef("collection_id"),
            version__origin=sightings.ROLLUP_ORIGIN,
            version__is_latest=True,
        )
        qs = qs.filter(Exists(rollups))
    return qs.order_by("-date_added", "-id")


def search(s: Search, *, limit: int = SEARCH_LIMIT) -> list[Hit]:
    """At most ``limit`` latest versions matching ``s``, newest first."""
    hits = []
    for row in _searched(s).select_related("collection", "source_partner")[:limit]:
        obj = _parsed(row.raw)
        hits.append(
            Hit(
                row.stix_id,
                row.type,
                stix.object_name(obj),
                stix.TLP_NAMES.get(row.tlp_rank) if row.tlp_rank is not None else None,
                row.collection,
                row.date_added,
                stix.format_version(row.version),
                row.origin,
                row.source_partner,
                stix.external_ids(obj),
            )
        )
    seen = sightings.seen({h.collection.pk for h in hits}, {h.stix_id for h in hits})
    return [replace(h, seen=seen.get(h.stix_id)) for h in hits]


BUNDLE_LIMIT = 5000


def search_raw(s: Search, *, limit: int = BUNDLE_LIMIT) -> list[str]:
    """The JSON text of at most ``limit`` latest versions matching ``s`` (for a
    bundle download), newest first."""
    return list(_searched(s).values_list("raw", flat=True)[:limit])


@dataclass(frozen=True, slots=True)
class Linked:
    stix_id: str
    type: str
    name: str
    label: str  # relationship type, or the container's type


@dataclass(slots=True)
class ObjectPage:
    stix_id: str
    latest: ObjectVersion
    obj: dict[str, Any]
    versions: list[ObjectVersion]
    refs: list[tuple[str, list[str]]]
    incoming: list[Linked]
    containers: list[Linked]
    names: dict[str, str]


REFS_SHOWN = 200


def object_page(stix_id: str) -> ObjectPage | None:
    """An object's latest version, its versions, what it refers to and what refers
    to it (relationships, reports and other containers)."""
    versions = list(
        policy.catalogue()
        .filter(stix_id=stix_id)
        .select_related("collection", "source_partner")
        .order_by("-version", "collection_id")[:200]
    )
    if not versions:
        return None
    latest = versions[0]
    obj = _parsed(latest.raw)
    refs: list[tuple[str, list[str]]] = []
    for key, value in obj.items():
        if key == "object_marking_refs":
            continue
        if key.endswith("_ref") and isinstance(value, str):
            refs.append((key, [value]))
        elif key.endswith("_refs") and isinstance(value, list):
            refs.append((key, [v for v in value if isinstance(v, str)][:REFS_SHOWN]))
    # Who points here: endpoint refs (relationships, sightings) and member refs
    # (reports, groupings, notes, opinions), latest versions only.
    pointing = (
        VersionRef.objects.filter(ref=stix_id, version__is_latest=True)
        .select_related("version")
        .order_by("version__type", "version__stix_id")[:REFS_SHOWN]
    )
    incoming: list[Linked] = []
    containers: list[Linked] = []
    seen: set[str] = set()
    for ref in pointing:
        version = ref.version
        if version.stix_id in seen:
            continue
        seen.add(version.stix_id)
        other = _parsed(version.raw)
        if ref.kind == VersionRef.ENDPOINT:
            source, target = (
                other.get("source_ref") or other.get("sighting_of_ref"),
                other.get("target_ref"),
            )
            peer = target if source == stix_id else source
            incoming.append(
                Linked(
                    version.stix_id,
                    version.type,
                    str(peer or ""),
                    str(other.get("relationship_type") or version.type),
                )
            )
        else:
            containers.append(
                Linked(version.stix_id, version.type, stix.object_name(other), version.type)
            )
    wanted = {i for _, ids in refs for i in ids} | {link.name for link in incoming}
    return ObjectPage(stix_id, latest, obj, versions, refs, incoming, containers, names(wanted))


def names(stix_ids: set[str]) -> dict[str, str]:
    """Readable names of the latest stored versions of ``stix_ids`` (one query)."""
    found: dict[str, str] = {}
    ids = [i for i in stix_ids if stix.IDENTIFIER.fullmatch(i)][:500]
    for sid, raw in (
        policy.catalogue().filter(stix_id__in=ids, is_latest=True).values_list("stix_id", "raw")
    ):
        found.setdefault(sid, stix.object_name(_parsed(raw)))
    return found


@dataclass(frozen=True, slots=True)
class Receipt:
    partner: Partner
    at: datetime
    version: str
    collection_id: Any


RECEIPTS_SHOWN = 500


def receipts(*, stix_id: str, since: datetime) -> tuple[list[Receipt], int]:
    """Which partners were served a version of ``stix_id`` since ``since``, newest
    first (the audit, matched in SQL: ``audit.carrying``); and how many requests."""
    versions = dict(policy.catalogue().filter(stix_id=stix_id).values_list("pk", "version"))
    if not versions:
        return [], 0
    by_pk = {p.pk: p for p in partners()}
    events = (
        audit.carrying(list(versions))
        .filter(partner_id__in=list(by_pk), at__gte=since, method="GET", status_code__in=(200, 206))
        .order_by("-at")
        .values_list("partner_id", "at", "collection_id", "versions")[:RECEIPTS_SHOWN]
    )
    found: list[Receipt] = []
    requests = 0
    for partner_id, at, collection_id, served in events:
        requests += 1
        found += [
            Receipt(by_pk[partner_id], at, stix.format_version(versions[pk]), collection_id)
            for pk in audit.keys(served)
            if pk in versions
        ]
    return found, requests


def tlp_ranks(pks: list[int]) -> dict[int, int | None]:
    """The stored TLP rank of each version in ``pks`` (staff: no partner's view)."""
    if not pks:
        return {}
    return dict(policy.catalogue().filter(pk__in=pks).values_list("pk", "tlp_rank"))
