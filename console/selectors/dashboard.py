"""Staff-side reads for the console's dashboard. Every query is bounded by a time
window or a row limit and reads through an index (audit by (partner, at), versions
by (collection, date_added), runs by (feed, started))."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Case, CharField, Count, Q, Sum, Value, When
from django.db.models.functions import TruncDate

from intelshare import policy, preview
from intelshare.models import AuditEvent, Collection, Grant, Partner
from sync.models import Feed, Quarantine, SyncRun

ORIGIN_KINDS = ("post", "feed", "cli", "pack", "atlas", "console", "other")


def origin_kind() -> Case:
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
        policy.catalogue()
        .filter(collection_id__in=collection_ids, date_added__gte=start)
        .annotate(day=TruncDate("date_added"), kind=origin_kind())
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


# --- withheld by rule -------------------------------------------------------------------

WITHHELD_GRANTS = 20
WITHHELD_SCAN = 500
WITHHELD_CACHE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Withheld:
    by_rule: dict[str, int]
    grants: int  # read grants looked at
    scan: int  # newest versions per collection looked at


def withheld_by_rule(*, traffic: list[Traffic], now: datetime) -> Withheld:
    """Versions withheld by each policy rule among the ``WITHHELD_SCAN`` newest of each
    collection, for the read grants of the busiest partners (at most
    ``WITHHELD_GRANTS``): the rules that matter to whoever pulls now. Cached a few
    minutes; bounded whatever the data size."""
    busiest = [t.partner.pk for t in traffic if t.requests][:WITHHELD_GRANTS]
    key = "console:withheld:" + ",".join(map(str, busiest))
    found: Withheld | None = cache.get(key)
    if found is not None:
        return found
    grants = list(
        Grant.objects.filter(partner_id__in=busiest, can_read=True)
        .select_related("partner", "collection")
        .order_by("partner__name", "collection_id")[:WITHHELD_GRANTS]
    )
    counts: Counter[str] = Counter()
    for grant in grants:
        rows, _ = preview.withheld(
            partner=grant.partner,
            collection=grant.collection,
            now=now,
            limit=WITHHELD_SCAN,
            scan=WITHHELD_SCAN,
        )
        counts.update(w.rule for w in rows)
    found = Withheld(
        {rule: counts[rule] for rule in preview.RULES if counts[rule]}, len(grants), WITHHELD_SCAN
    )
    cache.set(key, found, WITHHELD_CACHE_SECONDS)
    return found
