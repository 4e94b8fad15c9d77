"""A partner's agreement on one collection compiled to ``Rules``, and the rules in
Python (``decide``): for ``explain`` and as the property tests' reference."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef, TextField
from django.db.models.expressions import RawSQL

from intelshare import stix
from intelshare.models import Agreement, Collection, Grant, Reveal, StoredFacts, User

TLP_MARKING_IDS = tuple(stix.TLP_MARKINGS)
ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a partner user, or the hub's staff."""

    user_id: int | None
    partner_id: int | None
    is_staff: bool

    @classmethod
    def of(cls, user: User) -> Caller:
        return cls(user_id=user.pk, partner_id=user.partner_id, is_staff=user.is_hub_staff)


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's rights on one collection (TAXII ``can_read``/``can_write``)."""

    can_read: bool
    can_write: bool


STAFF_ACCESS = Access(can_read=True, can_write=True)


@dataclass(frozen=True, slots=True)
class Rules:
    """One partner's agreement on one collection, compiled at one instant."""

    partner_id: int
    grant_id: int
    collection_id: uuid.UUID
    can_read: bool
    can_write: bool
    active: bool
    tlp_ceiling: int
    default_tlp: int
    allowed_types: frozenset[str] | None
    denied_types: frozenset[str]
    embargo: timedelta
    redact: bool
    consenting: frozenset[int]  # partners whose AMBER contributions may flow here
    # Whether a widening revealed versions through this grant (DESIGN.md "widening");
    # without any, a page reads one stream instead of a stream and a join to reveals.
    has_reveals: bool = True


def _consenting(partner_id: int, collection: Collection) -> RawSQL:
    """The partners whose agreements hold a grant on ``collection`` and consent to
    ``partner_id``'s seeing their AMBER contributions, as one comma-joined text (a
    subquery of the grant's read: one round trip)."""
    through = Agreement.consents.through._meta
    agreement, grant = Agreement._meta.db_table, Grant._meta.db_table
    joined = (
        "STRING_AGG(CAST(a.partner_id AS TEXT), ',')"
        if connection.vendor == "postgresql"
        else "GROUP_CONCAT(a.partner_id, ',')"
    )
    # Table names from the models; the two values are parameters.
    return RawSQL(  # noqa: S611
        f"SELECT {joined} FROM {agreement} a"  # noqa: S608
        f" JOIN {grant} g ON g.agreement_id = a.id"
        f" JOIN {through.db_table} c ON c.agreement_id = a.id"
        " WHERE g.collection_id = %s AND c.partner_id = %s",
        (Collection._meta.pk.get_db_prep_value(collection.pk, connection), partner_id),
        output_field=TextField(),
    )


def compile_rules(*, partner_id: int, collection: Collection, now: datetime) -> Rules | None:
    """The rules of ``partner_id`` on ``collection`` at ``now``; ``None`` without a grant.
    One query: the grant, its agreement, whether it revealed versions, the consents."""
    found = list(
        Grant.objects.filter(partner_id=partner_id, collection=collection)
        .annotate(
            has_reveals=Exists(Reveal.objects.filter(grant_id=OuterRef("pk"))),
            consenting=_consenting(partner_id, collection),
        )
        .values_list(
            "pk",
            "can_read",
            "can_write",
            "agreement__valid_from",
            "agreement__valid_until",
            "agreement__tlp_ceiling",
            "agreement__allowed_types",
            "agreement__denied_types",
            "agreement__embargo",
            "agreement__granular_mode",
            "has_reveals",
            "consenting",
        )[:1]
    )
    if not found:
        return None
    (
        grant_id,
        can_read,
        can_write,
        valid_from,
        valid_until,
        ceiling,
        allowed,
        denied,
        embargo,
        granular_mode,
        has_reveals,
        consenting,
    ) = found[0]
    return Rules(
        partner_id=partner_id,
        grant_id=grant_id,
        collection_id=collection.pk,
        can_read=can_read,
        can_write=can_write,
        active=Agreement(valid_from=valid_from, valid_until=valid_until).active_at(now),
        tlp_ceiling=ceiling,
        default_tlp=collection.default_tlp,
        allowed_types=frozenset(allowed) if allowed else None,
        denied_types=frozenset(denied or ()),
        embargo=embargo,
        redact=granular_mode == Agreement.REDACT,
        consenting=frozenset(int(p) for p in (consenting or "").split(",") if p) - {partner_id},
        has_reveals=bool(has_reveals),
    )


def withholds_nothing(rules: Rules, facts: StoredFacts) -> bool:
    """Whether ``rules`` can withhold no version of a collection whose stored
    versions are bounded by ``facts``: then no reference is hidden, the stored
    newest version is the newest seen and nothing is redacted. ``False`` whenever
    a rule might apply (each clause mirrors one of ``_base_decision``)."""
    if not (rules.active and rules.can_read):
        return False
    if rules.allowed_types is not None or rules.denied_types or rules.embargo:
        return False
    top = max(facts.rank, rules.default_tlp if facts.unmarked else -1)
    if top > rules.tlp_ceiling or facts.granular > rules.tlp_ceiling:
        return False
    # Another partner's contribution flows at CLEAR or GREEN; its sightings by route.
    partners_top = max(facts.partner_rank, rules.default_tlp if facts.partner_unmarked else -1)
    return partners_top <= stix.TLP_GREEN and not facts.partner_sightings


# --- the rules in Python ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What the rules look at for one stored version."""

    stix_id: str
    type: str
    tlp_rank: int | None
    source_partner_id: int | None
    date_added: datetime
    granular_rank: int | None = None
    granular_required_rank: int | None = None
    routed_to_id: int | None = None
    endpoint_hidden: bool = False  # an endpoint is stored here but not visible
    members: int = 0  # references of a report/grouping/note/opinion
    members_hidden: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    shared: bool
    rule: str


def _base_decision(rules: Rules, facts: VersionFacts, now: datetime) -> Decision:
    """Every rule but references (which look at other versions' decisions)."""
    if not rules.active:
        return Decision(False, "validity")
    if not rules.can_read:
        return Decision(False, "grant")
    if facts.source_partner_id == rules.partner_id:
        return Decision(True, "own-contribution")
    if facts.stix_id in stix.TLP_MARKINGS:
        return Decision(True, "tlp-marking-definition")
    tlp = rules.default_tlp if facts.tlp_rank is None else facts.tlp_rank
    if tlp > rules.tlp_ceiling:
        return Decision(False, "tlp-ceiling")
    if facts.source_partner_id is not None and (
        tlp > stix.TLP_AMBER
        or (tlp == stix.TLP_AMBER and facts.source_partner_id not in rules.consenting)
    ):
        return Decision(False, "originator-control")
    if (
        facts.type == "sighting"
        and facts.source_partner_id is not None
        and facts.routed_to_id != rules.partner_id
    ):
        return Decision(False, "sightings")
    if rules.allowed_types is not None and facts.type not in rules.allowed_types:
        return Decision(False, "types")
    if facts.type in rules.denied_types:
        return Decision(False, "types")
    if rules.embargo and facts.date_added + rules.embargo > now:
        return Decision(False, "embargo")
    granular = facts.granular_required_rank if rules.redact else facts.granular_rank
    if granular is not None and granular > rules.tlp_ceiling:
        return Decision(False, "granular-markings")
    return Decision(True, "shared")


def decide(rules: Rules, facts: VersionFacts, now: datetime) -> Decision:
    """Whether one version reaches the partner of ``rules`` at ``now``, and why."""
    base = _base_decision(rules, facts, now)
    if not base.shared or base.rule != "shared":
        return base
    if facts.endpoint_hidden:
        return Decision(False, "references")
    if facts.members and facts.members_hidden == facts.members:
        return Decision(False, "references")
    return base
