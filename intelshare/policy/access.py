"""The entry points: a caller's ``View`` of a collection, its collections and rights."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from intelshare.models import ApiRoot, Collection, Grant, ObjectVersion, Partner
from intelshare.policy.redact import REDACTION_FIELDS
from intelshare.policy.rules import (
    STAFF_ACCESS,
    Access,
    Caller,
    Rules,
    compile_rules,
    withholds_nothing,
)
from intelshare.policy.sql import base_q
from intelshare.policy.view import View


def _versions_of(collection: Collection) -> QuerySet[ObjectVersion]:
    return ObjectVersion.objects.filter(collection=collection)


def visible(*, partner: Partner, collection: Collection, now: datetime) -> View:
    """The only partner-facing read of object versions: what ``partner`` may see
    of ``collection`` at ``now`` under its agreement."""
    rules = compile_rules(partner_id=partner.pk, collection=collection, now=now)
    return _partner_view(rules, collection, now)


def _partner_view(rules: Rules | None, collection: Collection, now: datetime) -> View:
    if rules is None or not (rules.active and rules.can_read):
        return View(_versions=ObjectVersion.objects.none())
    versions = _versions_of(collection).filter(base_q(rules, now))
    return View(
        _versions=versions,
        rules=rules,
        now=now,
        redaction_fields=REDACTION_FIELDS,
        whole=collection.stored_facts if withholds_nothing(rules, collection.facts) else None,
    )


def catalogue(*, collection: Collection | None = None) -> QuerySet[ObjectVersion]:
    """Every stored version of ``collection`` (of every collection when None), for hub
    staff only (console, CLI, metrics, preview, audit); never a partner's read."""
    return ObjectVersion.objects.all() if collection is None else _versions_of(collection)


def staff_versions(*, collection: Collection) -> View:
    """Every version of ``collection``: the hub's staff path, never a partner's."""
    return View(_versions=_versions_of(collection))


# --- collections --------------------------------------------------------------------


def _active_grants(partner_id: int, now: datetime) -> QuerySet[Grant]:
    return (
        Grant.objects.filter(partner_id=partner_id, agreement__valid_from__lte=now)
        .filter(Q(agreement__valid_until__isnull=True) | Q(agreement__valid_until__gt=now))
        .filter(Q(can_read=True) | Q(can_write=True))
    )


def collections(
    caller: Caller, api_root: ApiRoot, now: datetime
) -> list[tuple[Collection, Access]]:
    """The collections of ``api_root`` that exist for ``caller``, in a stable order."""
    colls = Collection.objects.filter(api_root=api_root).order_by("created", "id")
    if caller.is_staff:
        return [(c, STAFF_ACCESS) for c in colls]
    if caller.partner_id is None:
        return []
    grants = _active_grants(caller.partner_id, now).filter(collection__api_root=api_root)
    by_collection = {g.collection_id: Access(g.can_read, g.can_write) for g in grants}
    return [(c, by_collection[c.pk]) for c in colls if c.pk in by_collection]


def opened(caller: Caller, collection: Collection, now: datetime) -> tuple[Access | None, View]:
    """``caller``'s rights on ``collection`` (``None`` when it does not exist for them:
    no grant, or the agreement outside its validity window) and their ``View`` of it,
    from one read of the partner's grant: staff take ``staff_versions()``, partners
    ``visible()``."""
    if caller.is_staff:
        return STAFF_ACCESS, staff_versions(collection=collection)
    if caller.partner_id is None:
        return None, View(_versions=ObjectVersion.objects.none())
    rules = compile_rules(partner_id=caller.partner_id, collection=collection, now=now)
    if rules is None or not rules.active or not (rules.can_read or rules.can_write):
        return None, _partner_view(None, collection, now)
    return Access(rules.can_read, rules.can_write), _partner_view(rules, collection, now)
