"""The rules as SQL (``Q`` objects over ``ObjectVersion``), and what an agreement
change re-sends."""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
from django.db.models import Case, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Value, When

from intelshare import stix
from intelshare.db.lookups import Many
from intelshare.models import ObjectVersion, VersionRef
from intelshare.policy.redact import marking_rank
from intelshare.policy.rules import TLP_MARKING_IDS, Rules

# --- the same rules in SQL ------------------------------------------------------------


def _tlp_q(rules: Rules, *, at_most: int | None = None, equal: int | None = None) -> Q:
    """A TLP condition on the effective level (unmarked = the collection's default)."""
    if at_most is not None:
        q, default_matches = Q(tlp_rank__lte=at_most), rules.default_tlp <= at_most
    else:
        q, default_matches = Q(tlp_rank=equal), rules.default_tlp == equal
    return q | Q(tlp_rank__isnull=True) if default_matches else q


def base_q(rules: Rules, now: datetime) -> Q:
    """``_base_decision`` as SQL, for a partner whose grant is active and readable."""
    q = _tlp_q(rules, at_most=rules.tlp_ceiling)
    originator = Q(source_partner__isnull=True) | _tlp_q(rules, at_most=stix.TLP_GREEN)
    if rules.consenting:
        originator |= _tlp_q(rules, equal=stix.TLP_AMBER) & Q(
            source_partner_id__in=sorted(rules.consenting)
        )
    q &= originator
    q &= ~Q(type="sighting", source_partner__isnull=False) | Q(routed_to_id=rules.partner_id)
    if rules.allowed_types is not None:
        q &= Q(type__in=sorted(rules.allowed_types))
    if rules.denied_types:
        q &= ~Q(type__in=sorted(rules.denied_types))
    if rules.embargo:
        q &= Q(date_added__lte=now - rules.embargo)
    column = "granular_required_rank" if rules.redact else "granular_rank"
    q &= Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__lte": rules.tlp_ceiling})
    return exempt_q(rules) | q


def ref_hidden_q(rules: Rules, now: datetime) -> Q:
    """On ``VersionRef`` rows: the referenced object is stored in the collection,
    but the partner may see none of its versions."""
    stored = ObjectVersion.objects.filter(
        collection_id=rules.collection_id, stix_id=OuterRef("ref")
    )
    return Q(Exists(stored)) & ~Q(Exists(stored.filter(base_q(rules, now))))


def _refs_of_outer(kind: str) -> QuerySet[VersionRef]:
    return VersionRef.objects.filter(version_id=OuterRef("pk"), kind=kind)


def visible_q(rules: Rules, now: datetime) -> Q:
    """``decide`` as SQL over the versions of the rules' collection."""
    if not (rules.active and rules.can_read):
        return Q(pk__in=[])
    hidden = ref_hidden_q(rules, now)
    references = Q(has_refs=False) | (
        ~Exists(_refs_of_outer(VersionRef.ENDPOINT).filter(hidden))
        & (
            ~Q(type__in=sorted(stix.MEMBER_TYPES))
            | Exists(_refs_of_outer(VersionRef.MEMBER).filter(~hidden))
        )
    )
    return exempt_q(rules) | (base_q(rules, now) & references)


def exempt_q(rules: Rules) -> Q:
    """Versions every rule but the grant lets through: the partner's own
    contributions and the TLP marking definitions."""
    return Q(source_partner_id=rules.partner_id) | Q(stix_id__in=TLP_MARKING_IDS)


def exempt_versions(rules: Rules) -> QuerySet[ObjectVersion]:
    """The versions of the rules' collection that no rule but the grant hides."""
    return versions_of_id(rules.collection_id).filter(exempt_q(rules))


def newly_visible(before: Rules, after: Rules, now: datetime) -> QuerySet[ObjectVersion]:
    """Versions ``after`` shows at ``now`` that ``before`` did not, oldest first
    (for widening reveals). When ``before`` had no access at all, everything
    visible counts as new: nothing tells what the partner received before."""
    versions = versions_of_id(after.collection_id)
    newly = versions.filter(visible_q(after, now))
    if before.active and before.can_read:
        old = versions.filter(pk=OuterRef("pk")).filter(visible_q(before, now))
        newly = newly.filter(~Exists(old))
    return newly.order_by("date_added", "pk")


def to_resend(before: Rules, after: Rules, now: datetime) -> list[int]:
    """Primary keys of the versions a partner must be served again when its rules
    change from ``before`` to ``after`` at ``now``, oldest first: those newly
    visible, and those visible under both whose served form differs — a container
    with a member hidden under one and not the other, or, in redact mode, a
    version with a granular marking removed under one and not the other. An
    incremental puller then holds what a full pull serves."""
    newly = newly_visible(before, after, now)
    if not (before.active and before.can_read):
        return list(newly.values_list("pk", flat=True).iterator(chunk_size=2000))
    versions = versions_of_id(after.collection_id)
    both = (
        versions.filter(visible_q(after, now))
        .filter(Exists(versions.filter(pk=OuterRef("pk")).filter(visible_q(before, now))))
        .exclude(exempt_q(after))
    )  # own contributions and TLP definitions are served whole
    found = dict(newly.values_list("pk", "date_added").iterator(chunk_size=2000))
    found.update(
        both.filter(_members_differ_q(before, after, now))
        .values_list("pk", "date_added")
        .iterator(chunk_size=2000)
    )
    found.update(_redaction_differs(before, after, both))
    return sorted(found, key=lambda pk: (found[pk], pk))


def _members_differ_q(before: Rules, after: Rules, now: datetime) -> Q:
    """On versions: a container with a member seen under one of the rules and
    hidden under the other (its served ``object_refs`` differ). A member the
    collection does not store is seen under neither rule nor hidden."""
    stored = ObjectVersion.objects.filter(
        collection_id=after.collection_id, stix_id=OuterRef("ref")
    )
    seen_before = Exists(stored.filter(base_q(before, now)))
    seen_after = Exists(stored.filter(base_q(after, now)))
    flipped = (seen_before & ~seen_after) | (~seen_before & seen_after)
    return Q(type__in=sorted(stix.MEMBER_TYPES), has_refs=True) & Q(
        Exists(_refs_of_outer(VersionRef.MEMBER).filter(flipped))
    )


def _redaction_differs(
    before: Rules, after: Rules, versions: QuerySet[ObjectVersion]
) -> list[tuple[int, datetime]]:
    """(pk, date_added) of ``versions`` whose redaction differs: a granular marking
    between the two ceilings is removed under one rules and kept under the other.
    SQL narrows by the highest granular rank; the markings themselves are in the
    JSON, read only for those candidates."""
    ceilings = {rules.tlp_ceiling if rules.redact else None for rules in (before, after)}
    if len(ceilings) == 1:
        return []  # the same markings are removed under both
    known = sorted(c for c in ceilings if c is not None)
    low = known[0]
    high = known[1] if len(known) == 2 else None  # the other rules redact nothing

    def differs(rank: int) -> bool:
        return rank > low and (high is None or rank <= high)

    found = []
    for pk, date_added, raw in (
        versions.filter(has_granular=True, granular_rank__gt=low)
        .values_list("pk", "date_added", "raw")
        .iterator(chunk_size=500)
    ):
        markings = orjson.loads(raw).get("granular_markings", [])
        if any(differs(rank) for rank in map(marking_rank, markings) if rank is not None):
            found.append((pk, date_added))
    return found


def versions_of_id(collection_id: uuid.UUID) -> QuerySet[ObjectVersion]:
    return ObjectVersion.objects.filter(collection_id=collection_id)


def hidden_refs(rules: Rules, now: datetime, refs: set[str]) -> set[str]:
    """Of ``refs``, the objects stored in the collection of which the partner may
    see no version (DESIGN.md "references"); one grouped index lookup."""
    if not refs:
        return set()
    rows = (
        ObjectVersion.objects.filter(
            collection_id=rules.collection_id, stix_id__among=Many(sorted(refs))
        )
        .values("stix_id")
        .order_by()
        .annotate(
            seen=Max(
                Case(
                    When(base_q(rules, now), then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                )
            )
        )
    )
    return {row["stix_id"] for row in rows if not row["seen"]}
