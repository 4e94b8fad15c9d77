"""The sharing matrix: partners by collections (staff only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Sum

from console.selectors.dashboard import partners
from intelshare.models import AuditEvent, Collection, Grant, Partner

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
