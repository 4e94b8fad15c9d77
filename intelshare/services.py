"""Writes of the hub's administration: agreements and grants. Every door calls
these, so a widening is always recorded (DESIGN.md "widening").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from intelshare import policy
from intelshare.ingest import TICK
from intelshare.models import Agreement, Collection, Grant, Partner, Reveal

logger = logging.getLogger(__name__)

AGREEMENT_FIELDS = frozenset(
    {
        "name",
        "tlp_ceiling",
        "allowed_types",
        "denied_types",
        "embargo",
        "valid_from",
        "valid_until",
        "granular_mode",
        "sightings",
        "rate_limit",
    }
)


@dataclass(frozen=True)
class _Scope:
    partner_id: int
    collection: Collection


def _scopes(agreement: Agreement, extra_partners: Iterable[int] = ()) -> list[_Scope]:
    """(partner, collection) pairs whose view an agreement change may alter: its own
    grants, and the grants of partners gaining or losing this partner's consent."""
    collections = [g.collection for g in agreement.grants.select_related("collection")]
    scopes = [_Scope(agreement.partner_id, c) for c in collections]
    extra = set(extra_partners) - {agreement.partner_id}
    if extra:
        grants = Grant.objects.filter(
            partner_id__in=extra, collection__in=collections
        ).select_related("collection")
        scopes += [_Scope(g.partner_id, g.collection) for g in grants]
    return scopes


def _snapshot(scopes: list[_Scope], now: datetime) -> list[policy.Rules | None]:
    return [
        policy.compile_rules(partner_id=s.partner_id, collection=s.collection, now=now)
        for s in scopes
    ]


def _reveal(before: policy.Rules | None, after: policy.Rules | None, now: datetime) -> int:
    """Record the versions to serve again (same grant): those ``after`` shows that
    ``before`` did not, and those whose served form differs (policy.to_resend).
    One row per version: a re-sent version leaves the stream of its date_added."""
    if after is None:
        return 0
    # Keep the invariant revealed_at >= date_added + embargo (policy.View.window).
    # Exempt versions (own contributions, TLP markings) are dated without embargo.
    stale = Reveal.objects.filter(
        grant_id=after.grant_id, revealed_at__lt=F("version__date_added") + after.embargo
    )
    stale.exclude(version__in=policy.exempt_versions(after)).delete()
    if before is None or not (after.active and after.can_read):
        return 0  # a new grant has no checkpoint to resume from; no access, nothing to show
    # Strictly after anything already served (served view dates are <= now).
    reveals = [
        Reveal(grant_id=after.grant_id, version_id=pk, revealed_at=now + TICK * (n + 1))
        for n, pk in enumerate(policy.to_resend(before, after, now))
    ]
    Reveal.objects.bulk_create(
        reveals,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["grant", "version"],
        update_fields=["revealed_at"],
    )
    return len(reveals)


def _apply(scopes: list[_Scope], before: list[policy.Rules | None], now: datetime) -> int:
    after = _snapshot(scopes, now)
    revealed = sum(_reveal(b, a, now) for b, a in zip(before, after, strict=True))
    if revealed:
        logger.info("agreement change revealed %d versions", revealed)
    return revealed


@transaction.atomic
def agreement_create(
    *,
    partner: Partner,
    name: str,
    collections: Iterable[Collection] = (),
    can_write: bool = False,
    consents: Iterable[Partner] = (),
    **fields: Any,
) -> Agreement:
    """A new agreement for ``partner``, with read grants (and write if asked)."""
    unknown = set(fields) - AGREEMENT_FIELDS
    if unknown:
        raise TypeError(f"unknown agreement fields: {sorted(unknown)}")
    agreement = Agreement.objects.create(partner=partner, name=name, **fields)
    for collection in collections:
        Grant.objects.create(
            agreement=agreement, collection=collection, can_read=True, can_write=can_write
        )
    consent_ids = [p.pk for p in consents]
    if consent_ids:
        now = timezone.now()
        scopes = _scopes(agreement, consent_ids)
        before = _snapshot(scopes, now)
        agreement.consents.set(consent_ids)
        _apply(scopes, before, now)
    return agreement


@transaction.atomic
def agreement_update(
    *,
    agreement: Agreement,
    consents: Iterable[Partner] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> int:
    """Change an agreement's rules (and consents); returns how many versions the
    change re-dated for a partner: newly revealed, or still visible in another
    served form. Narrowing hides at once; what it only shrinks is re-sent too."""
    unknown = set(fields) - AGREEMENT_FIELDS
    if unknown:
        raise TypeError(f"unknown agreement fields: {sorted(unknown)}")
    now = now or timezone.now()
    old_consents = set(agreement.consents.values_list("pk", flat=True))
    new_consents = old_consents if consents is None else {p.pk for p in consents}
    scopes = _scopes(agreement, old_consents ^ new_consents)
    before = _snapshot(scopes, now)
    for name, value in fields.items():
        setattr(agreement, name, value)
    agreement.save()
    if consents is not None:
        agreement.consents.set(sorted(new_consents))
    return _apply(scopes, before, now)


@transaction.atomic
def grant_set(
    *,
    agreement: Agreement,
    collection: Collection,
    can_read: bool = True,
    can_write: bool = False,
    now: datetime | None = None,
) -> Grant:
    """Give (or change) ``agreement``'s access to ``collection``."""
    now = now or timezone.now()
    scope = [_Scope(agreement.partner_id, collection)]
    before = _snapshot(scope, now)
    grant, _ = Grant.objects.update_or_create(
        partner=agreement.partner,
        collection=collection,
        defaults={"agreement": agreement, "can_read": can_read, "can_write": can_write},
    )
    _apply(scope, before, now)
    return grant


@transaction.atomic
def grant_remove(*, agreement: Agreement, collection: Collection) -> bool:
    """Take ``collection`` out of ``agreement``: a narrowing, nothing to record."""
    deleted, _ = Grant.objects.filter(agreement=agreement, collection=collection).delete()
    return bool(deleted)


def agreement_delete(*, agreement: Agreement) -> None:
    """Delete an agreement with its grants and reveals: a narrowing."""
    agreement_id = agreement.pk
    agreement.delete()
    logger.info("agreement %s deleted", agreement_id)


def agreement_revoke(*, agreement: Agreement, now: datetime | None = None) -> None:
    """End the agreement now: every request after this one finds no access."""
    agreement_update(agreement=agreement, valid_until=now or timezone.now(), now=now)


def collection_set_default_tlp(
    *, collection: Collection, default_tlp: int, now: datetime | None = None
) -> int:
    """Change the TLP assumed for unmarked versions; lowering it is a widening."""
    now = now or timezone.now()
    with transaction.atomic():
        scopes = [_Scope(g.partner_id, collection) for g in collection.grants.all()]
        before = _snapshot(scopes, now)
        Collection.objects.filter(pk=collection.pk).update(default_tlp=default_tlp)
        collection.default_tlp = default_tlp
        return _apply(scopes, before, now)
