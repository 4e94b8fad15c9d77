"""Staff-side reads of the console: the dashboard, the sharing matrix and the
object browser.

This is the staff selector beside ``intelshare.policy``: it reads
``ObjectVersion`` directly, for hub staff only (every console view requires
``is_hub_staff``). Nothing here is ever served to a partner; what a partner
receives is decided by ``policy.visible()``/``policy.explain()`` alone.

Every query is bounded by a time window or a row limit and reads through an
index: audit events by (partner, at), versions by (collection, date_added),
runs by (feed, started), so a page costs the same at 100k rows as at 100.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from django.db.models import Case, CharField, Count, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate

from intelshare import stix
from intelshare.models import AuditEvent, Collection, Grant, ObjectVersion, Partner, VersionRef
from sync.models import Feed, Quarantine, SyncRun

# Origins as stored ("post:<status>", "feed:<id>/run:<id>", "pack", …) by kind.
ORIGIN_KINDS = ("post", "feed", "cli", "pack", "atlas", "console", "other")


def _origin_kind() -> Case:
    whens = [
        When(origin__startswith=f"{kind}:", then=Value(kind))
        for kind in ("post", "feed", "cli", "console")
    ]
    whens += [When(origin=kind, then=Value(kind)) for kind in ("pack", "atlas")]
    return Case(*whens, default=Value("other"), output_field=CharField())


# --- feeds -----------------------------------------------------------------------------

FEEDS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class FeedHealth:
    feed: Feed
    state: str  # "never run" | "healthy" | "failing" | "paused"
    lag: timedelta | None
    pending_quarantine: int
    runs_7d: int
    failed_7d: int


def feed_health(*, now: datetime, limit: int = FEEDS_SHOWN) -> list[FeedHealth]:
    """The feeds with their state, lag, quarantine and recent runs (three queries)."""
    feeds = list(Feed.objects.select_related("partner", "collection").order_by("name")[:limit])
    ids = [f.pk for f in feeds]
    pending = dict(
        Quarantine.objects.filter(feed_id__in=ids, state=Quarantine.PENDING)
        .values("feed_id")
        .annotate(n=Count("id"))
        .values_list("feed_id", "n")
    )
    runs = {
        row["feed_id"]: row
        for row in SyncRun.objects.filter(feed_id__in=ids, started__gte=now - timedelta(days=7))
        .values("feed_id")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(outcome=SyncRun.FAILED)))
    }
    return [
        FeedHealth(
            f,
            f.health,
            f.lag(now),
            pending.get(f.pk, 0),
            runs.get(f.pk, {}).get("n", 0),
            runs.get(f.pk, {}).get("failed", 0),
        )
        for f in feeds
    ]


# --- TAXII traffic ----------------------------------------------------------------------


@dataclass(slots=True)
class Traffic:
    partner: Partner
    requests: int = 0
    versions: int = 0
    refused: int = 0


def partners(limit: int = 500) -> list[Partner]:
    return list(Partner.objects.order_by("name")[:limit])


def traffic(*, partners: list[Partner], since: datetime) -> list[Traffic]:
    """TAXII requests and versions served per partner since ``since`` (one query on
    the (partner, at) index)."""
    by_pk = {p.pk: Traffic(p) for p in partners}
    rows = (
        AuditEvent.objects.filter(partner_id__in=list(by_pk), at__gte=since)
        .values("partner_id")
        .annotate(
            requests=Count("id"),
            versions=Sum("count", filter=Q(method="GET", status_code=200)),
            refused=Count("id", filter=Q(status_code__gte=400)),
        )
    )
    for row in rows:
        t = by_pk[row["partner_id"]]
        t.requests, t.versions, t.refused = row["requests"], row["versions"] or 0, row["refused"]
    return sorted(by_pk.values(), key=lambda t: (-t.requests, t.partner.name))


def refusals(*, partners: list[Partner], since: datetime) -> dict[int, int]:
    """Refused TAXII requests since ``since`` by HTTP status (401, 403, 404, 429…)."""
    rows = (
        AuditEvent.objects.filter(
            partner_id__in=[p.pk for p in partners], at__gte=since, status_code__gte=400
        )
        .values("status_code")
        .annotate(n=Count("id"))
    )
    return {row["status_code"]: row["n"] for row in rows}


# --- ingest -----------------------------------------------------------------------------


@dataclass(slots=True)
class IngestDay:
    day: date
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def ingested_per_day(*, now: datetime, days: int = 14) -> list[IngestDay]:
    """Versions added per day by origin kind over the last ``days`` days (one query
    on the (collection, date_added) index)."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    collection_ids = list(Collection.objects.values_list("pk", flat=True))
    rows = (
        ObjectVersion.objects.filter(collection_id__in=collection_ids, date_added__gte=start)
        .annotate(day=TruncDate("date_added"), kind=_origin_kind())
        .values("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict[date, dict[str, int]] = defaultdict(dict)
    for row in rows:
        found[row["day"]][row["kind"]] = row["n"]
    return [
        IngestDay(day, found.get(day, {}))
        for day in (start.date() + timedelta(days=i) for i in range(days))
    ]


# --- sharing matrix ---------------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    grant: Grant
    expired: bool
    served_7d: int = 0


@dataclass(slots=True)
class MatrixRow:
    partner: Partner
    cells: list[Cell | None]
    last_pull: datetime | None = None


def matrix(*, now: datetime, limit: int = 500) -> tuple[list[Collection], list[MatrixRow]]:
    """Partners by collections: each cell the partner's grant with its agreement's rules
    (four queries whatever the number of rows)."""
    collections = list(
        Collection.objects.select_related("api_root").order_by("api_root__slug", "created")[:100]
    )
    rows = [MatrixRow(p, [None] * len(collections)) for p in partners(limit)]
    index = {c.pk: i for i, c in enumerate(collections)}
    by_partner = {r.partner.pk: r for r in rows}
    grants = (
        Grant.objects.filter(partner_id__in=list(by_partner))
        .select_related("agreement")
        .prefetch_related("agreement__consents")
    )
    cells: dict[tuple[int, Any], Cell] = {}
    for grant in grants:
        if grant.collection_id not in index:
            continue
        cell = Cell(grant, expired=not grant.agreement.active_at(now))
        by_partner[grant.partner_id].cells[index[grant.collection_id]] = cell
        cells[(grant.partner_id, grant.collection_id)] = cell
    served = (
        AuditEvent.objects.filter(
            partner_id__in=list(by_partner),
            at__gte=now - timedelta(days=7),
            method="GET",
            status_code=200,
        )
        .values("partner_id", "collection_id")
        .annotate(n=Sum("count"))
    )
    for row in served:
        cell = cells.get((row["partner_id"], row["collection_id"]))
        if cell is not None:
            cell.served_7d = row["n"] or 0
    pulls = (
        AuditEvent.objects.filter(
            partner_id__in=list(by_partner), method="GET", at__gte=now - timedelta(days=90)
        )
        .values("partner_id")
        .annotate(last=Max("at"))
    )
    for row in pulls:
        by_partner[row["partner_id"]].last_pull = row["last"]
    return collections, rows


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


def _parsed(raw: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def external_ids(obj: dict[str, Any]) -> tuple[str, ...]:
    refs = obj.get("external_references")
    if not isinstance(refs, list):
        return ()
    return tuple(
        r["external_id"]
        for r in refs
        if isinstance(r, dict) and isinstance(r.get("external_id"), str)
    )


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


def _searched(s: Search) -> QuerySet[ObjectVersion]:
    """The latest versions matching ``s``, newest first.

    A STIX id matches exactly (index); other text matches anywhere in the object's
    JSON (name, aliases, external ids such as AML.T0051 or T1566, descriptions):
    a scan of the latest versions, stopped by the caller's limit.
    """
    qs: QuerySet[ObjectVersion] = ObjectVersion.objects.filter(is_latest=True)
    text = s.q.strip()
    if text and stix.IDENTIFIER.fullmatch(text):
        qs = qs.filter(stix_id=text)
    elif text:
        qs = qs.filter(raw__icontains=text)
    if s.type:
        qs = qs.filter(type=s.type)
    if s.tlp is not None:
        qs = qs.filter(tlp_rank=s.tlp)
    if s.source_partner is not None:
        qs = qs.filter(source_partner_id=s.source_partner)
    if s.origin:
        qs = qs.annotate(kind=_origin_kind()).filter(kind=s.origin)
    if s.collection:
        qs = qs.filter(collection_id=s.collection)
    if s.added_from:
        qs = qs.filter(date_added__date__gte=s.added_from)
    if s.added_to:
        qs = qs.filter(date_added__date__lte=s.added_to)
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
                external_ids(obj),
            )
        )
    return hits


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
        ObjectVersion.objects.filter(stix_id=stix_id)
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
    for sid, raw in ObjectVersion.objects.filter(stix_id__in=ids, is_latest=True).values_list(
        "stix_id", "raw"
    ):
        found.setdefault(sid, stix.object_name(_parsed(raw)))
    return found


@dataclass(frozen=True, slots=True)
class Receipt:
    partner: Partner
    at: datetime
    version: str
    collection_id: Any


AUDIT_SCANNED = 20000


def receipts(*, stix_id: str, since: datetime) -> tuple[list[Receipt], int]:
    """Which partners were served a version of ``stix_id`` since ``since`` (audit),
    scanning at most ``AUDIT_SCANNED`` events, newest first; returns the receipts and
    the number of events scanned."""
    versions = dict(ObjectVersion.objects.filter(stix_id=stix_id).values_list("pk", "version"))
    if not versions:
        return [], 0
    by_pk = {p.pk: p for p in partners()}
    events = (
        AuditEvent.objects.filter(
            partner_id__in=list(by_pk), at__gte=since, method="GET", status_code=200, count__gt=0
        )
        .order_by("-at")
        .values_list("partner_id", "at", "collection_id", "versions")[:AUDIT_SCANNED]
    )
    found: list[Receipt] = []
    scanned = 0
    for partner_id, at, collection_id, served in events.iterator(chunk_size=2000):
        scanned += 1
        for pk in served:
            if pk in versions:
                found.append(
                    Receipt(by_pk[partner_id], at, stix.format_version(versions[pk]), collection_id)
                )
    return found, scanned


def tlp_ranks(pks: list[int]) -> dict[int, int | None]:
    """The stored TLP rank of each version in ``pks`` (staff: no partner's view)."""
    if not pks:
        return {}
    return dict(ObjectVersion.objects.filter(pk__in=pks).values_list("pk", "tlp_rank"))
