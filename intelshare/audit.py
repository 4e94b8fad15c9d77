"""Who saw what: one ``AuditEvent`` per TAXII request (DESIGN.md "explain and audit").

An event is one INSERT with the served versions' keys as a JSON list, so
auditing costs a page one row, whatever its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from intelshare import stix
from intelshare.models import ApiToken, AuditEvent, Collection, ObjectVersion, Partner, User

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


def received(*, partner: Partner, stix_id: str, since: datetime | None = None) -> list[Receipt]:
    """Which versions of ``stix_id`` ``partner`` received, and when."""
    versions = dict(ObjectVersion.objects.filter(stix_id=stix_id).values_list("pk", "version"))
    if not versions:
        return []
    events = AuditEvent.objects.filter(
        partner=partner, method="GET", status_code__in=(200, 206)
    )  # 206: a TAXII 2.0 page
    if since is not None:
        events = events.filter(at__gte=since)
    found = []
    for event in events.order_by("at").iterator():
        for pk in event.versions:
            if pk in versions:
                found.append(
                    Receipt(
                        event.at,
                        event.collection_id,
                        stix.format_version(versions[pk]),
                        event.endpoint,
                    )
                )
    return found
