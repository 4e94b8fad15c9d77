"""What a partner would receive from a collection right now, before it pulls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q

from intelshare import policy, stix
from intelshare.models import Collection, Partner

_SALT = "intelshare.preview"
_CHUNK = 2000
# The order in which decide() applies the rules (policy module docstring).
RULES = (
    "validity",
    "grant",
    "tlp-ceiling",
    "originator-control",
    "sightings",
    "types",
    "embargo",
    "granular-markings",
    "references",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One version the partner would receive, dated in the partner's view."""

    pk: int
    date_added: datetime
    stix_id: str
    type: str
    version: str


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    next: str | None


@dataclass(slots=True)
class Summary:
    """How many versions of the collection the partner receives, and why not the rest."""

    total: int = 0
    shared: int = 0
    withheld: dict[str, int] = field(default_factory=dict)


class BadCursor(ValueError):
    """A cursor that was forged, truncated or made for another preview."""


def _cursor_token(partner: Partner, collection: Collection, row: Row) -> str:
    return signing.dumps(
        {
            "p": partner.pk,
            "c": str(collection.pk),
            "pk": row.pk,
            "d": stix.format_timestamp(row.date_added),
        },
        salt=_SALT,
        compress=True,
    )


def _cursor(token: str, partner: Partner, collection: Collection) -> policy.Cursor:
    try:
        data = signing.loads(token, salt=_SALT)
        if data["p"] != partner.pk or data["c"] != str(collection.pk):
            raise BadCursor("the cursor belongs to another partner or collection")
        return policy.Cursor(stix.parse_timestamp(data["d"]), int(data["pk"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, BadCursor):
            raise
        raise BadCursor("invalid cursor") from None


def page(
    *,
    partner: Partner,
    collection: Collection,
    now: datetime,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Up to ``limit`` versions ``partner`` would receive from ``collection`` at
    ``now``, in its view order, after ``cursor``."""
    after = _cursor(cursor, partner, collection) if cursor else None
    view = policy.visible(partner=partner, collection=collection, now=now)
    found = view.window(
        None,
        added_after=None,
        after=after,
        limit=limit + 1,
        fields=("stix_id", "type", "version"),
    )
    rows = [
        Row(pk, added, sid, typ, stix.format_version(version))
        for pk, added, sid, typ, version in found[:limit]
    ]
    more = len(found) > limit
    return Page(rows, _cursor_token(partner, collection, rows[-1]) if more else None)


_FACT_COLUMNS = (
    "pk",
    "stix_id",
    "type",
    "tlp_rank",
    "source_partner_id",
    "date_added",
    "granular_rank",
    "granular_required_rank",
    "has_refs",
    "routed_to_id",
)


def _chunks(
    collection: Collection, *, newest: int | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """The collection's fact rows in chunks: all of them oldest first, or only the
    ``newest`` most recently stored, newest first."""
    versions = policy.catalogue(collection=collection)
    rows = versions.order_by("pk") if newest is None else versions.order_by("-pk")[:newest]
    chunk: list[tuple[Any, ...]] = []
    for row in rows.values_list(*_FACT_COLUMNS).iterator(chunk_size=_CHUNK):
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decisions(
    *, partner: Partner, collection: Collection, now: datetime, newest: int | None = None
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every version of ``collection`` (or its ``newest`` ones, newest first) with the
    rule that decides it for ``partner`` at ``now``: "shared" or the first rule that
    withholds it."""
    rules = policy.compile_rules(partner_id=partner.pk, collection=collection, now=now)
    view = policy.visible(partner=partner, collection=collection, now=now)
    for chunk in _chunks(collection, newest=newest):
        if rules is None:
            for row in chunk:
                yield row, "grant"
            continue
        to_check: dict[int, tuple[Any, ...]] = {}
        for row in chunk:
            pk, sid, typ, tlp, source, added, g_rank, g_req, has_refs, routed = row
            facts = policy.VersionFacts(
                stix_id=sid,
                type=typ,
                tlp_rank=tlp,
                source_partner_id=source,
                date_added=added,
                granular_rank=g_rank,
                granular_required_rank=g_req,
                routed_to_id=routed,
            )
            decision = policy.decide(rules, facts, now)
            if decision.shared and decision.rule == "shared" and has_refs:
                to_check[pk] = row  # the reference rules decide
            else:
                yield row, "shared" if decision.shared else decision.rule
        if to_check:
            seen = {
                found[0]
                for found in view.window(
                    Q(pk__in=list(to_check)),
                    added_after=None,
                    after=None,
                    limit=len(to_check),
                    fields=(),
                )
            }
            for pk, row in to_check.items():
                yield row, "shared" if pk in seen else "references"


def summary(*, partner: Partner, collection: Collection, now: datetime) -> Summary:
    """Counts of the versions of ``collection`` that ``partner`` receives at ``now``
    and of those withheld, by the rule that withholds them."""
    counts: Counter[str] = Counter(
        rule for _, rule in _decisions(partner=partner, collection=collection, now=now)
    )
    shared = counts.pop("shared", 0)
    return Summary(
        total=shared + sum(counts.values()),
        shared=shared,
        withheld={rule: counts[rule] for rule in RULES if counts[rule]},
    )


@dataclass(frozen=True, slots=True)
class Withheld:
    """One version the partner does not receive, and the rule that withholds it."""

    pk: int
    stix_id: str
    type: str
    tlp_rank: int | None
    date_added: datetime
    rule: str


def withheld(
    *, partner: Partner, collection: Collection, now: datetime, limit: int = 100, scan: int = 20000
) -> tuple[list[Withheld], int]:
    """Up to ``limit`` versions withheld from ``partner`` at ``now`` among the ``scan``
    most recently stored versions of ``collection`` (newest first), each with its
    deciding rule; and how many versions were looked at. Bounded by ``scan``, unlike
    ``summary()``, which reads the whole collection."""
    found: list[Withheld] = []
    scanned = 0
    for row, rule in _decisions(partner=partner, collection=collection, now=now, newest=scan):
        scanned += 1
        if rule != "shared":
            pk, sid, typ, tlp, _source, added, *_ = row
            found.append(Withheld(pk, sid, typ, tlp, added, rule))
            if len(found) >= limit:
                break
    return found, scanned
