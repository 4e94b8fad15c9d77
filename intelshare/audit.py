"""Who saw what: one ``AuditEvent`` per TAXII request (DESIGN.md "explain and audit")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from intelshare import policy, stix
from intelshare.models import ApiToken, AuditEvent, Collection, Partner, User

# Query parameters kept in the event; ``next`` tokens are opaque and long.
KEPT_PARAMS = (
    "added_after",
    "limit",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
)


def record(
    *,
    user: User | None,
    token: ApiToken | None,
    method: str,
    endpoint: str,
    collection: Collection | None,
    object_id: str,
    params: dict[str, Any],
    status_code: int,
    versions: Sequence[int],
    count: int | None = None,
) -> AuditEvent:
    """Write the event of one request."""
    partner_id = user.partner_id if user is not None else None
    params = {k: _clean(str(v)) for k, v in params.items()}
    object_id = _clean(object_id)
    return AuditEvent.objects.create(
        at=timezone.now(),
        partner_id=partner_id,
        user=user,
        token=token,
        method=method,
        endpoint=endpoint,
        collection=collection,
        object_id=object_id[:300],
        filters={k: str(params[k])[:500] for k in params if k in KEPT_PARAMS or k == "status"},
        status_code=status_code,
        count=len(versions) if count is None else count,
        versions=list(versions),
    )


def _clean(text: str) -> str:
    """Request text as stored: no NUL (PostgreSQL text cannot hold it)."""
    return text.replace("\x00", "\ufffd")


@dataclass(frozen=True, slots=True)
class Receipt:
    at: datetime
    collection_id: uuid.UUID | None
    version: str
    endpoint: str


def carrying(pks: Sequence[int]) -> QuerySet[AuditEvent]:
    """Events whose served or stored keys include any of ``pks``, tested in SQL
    (``@>`` on PostgreSQL, ``json_each`` on SQLite); callers bound the scan with the
    (partner, at) or (collection, at) index. A GIN index on the keys would make this
    a lookup, but costs every 1,000-version page ~5 ms more to write (measured)."""
    if connection.vendor == "postgresql":
        match = Q()
        for pk in pks:
            match |= Q(versions__contains=[pk])
        return AuditEvent.objects.filter(match)
    marks = ", ".join(["%s"] * len(pks))
    # Placeholders only: the keys are parameters.
    inner = RawSQL(
        "SELECT e.id FROM intelshare_auditevent e, json_each(e.versions) j"
        f" WHERE j.value IN ({marks})",
        list(pks),
    )
    return AuditEvent.objects.filter(pk__in=inner)


def received(*, partner: Partner, stix_id: str, since: datetime | None = None) -> list[Receipt]:
    """Which versions of ``stix_id`` ``partner`` received, and when (a TAXII 2.0
    page answers 206)."""
    stored = list(
        policy.catalogue()
        .filter(stix_id=stix_id)
        .values_list("pk", "version", "collection_id", "date_added")
    )
    version_of = {pk: version for pk, version, _, _ in stored}
    found = []
    for collection_id in {c for _, _, c, _ in stored}:
        mine = [(pk, added) for pk, _, c, added in stored if c == collection_id]
        start = min(added for _, added in mine)
        events = carrying([pk for pk, _ in mine]).filter(
            partner=partner,
            collection_id=collection_id,
            method="GET",
            status_code__in=(200, 206),
            at__gte=start if since is None else max(start, since),
        )
        for at, endpoint, served in events.values_list("at", "endpoint", "versions"):
            found += [
                Receipt(at, collection_id, stix.format_version(version_of[pk]), endpoint)
                for pk in served
                if pk in version_of
            ]
    return sorted(found, key=lambda r: (r.at, r.version))
