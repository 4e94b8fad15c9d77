"""Why a partner receives, or not, each stored version of an object."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from intelshare import stix
from intelshare.models import ObjectVersion, Partner, VersionRef
from intelshare.policy.rules import Decision, Rules, VersionFacts, compile_rules, decide
from intelshare.policy.sql import ref_hidden_q

# --- explain ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision on one version of an object for one partner."""

    collection_id: uuid.UUID
    version: str
    date_added: datetime
    decision: Decision


def _reference_facts(rules: Rules, version_pk: int, now: datetime) -> dict[str, Any]:
    refs = VersionRef.objects.filter(version_id=version_pk)
    hidden = ref_hidden_q(rules, now)
    members = refs.filter(kind=VersionRef.MEMBER)
    return {
        "endpoint_hidden": refs.filter(kind=VersionRef.ENDPOINT).filter(hidden).exists(),
        "members": members.count(),
        "members_hidden": members.filter(hidden).count(),
    }


def explain(*, partner: Partner, stix_id: str, now: datetime | None = None) -> list[Explanation]:
    """For every stored version of ``stix_id``: shared with ``partner`` or not, and
    the rule that decided (DESIGN.md "explain")."""
    from django.utils import timezone

    now = now or timezone.now()
    found: list[Explanation] = []
    rows = (
        ObjectVersion.objects.filter(stix_id=stix_id)
        .select_related("collection")
        .order_by("collection_id", "version")
    )
    rules_of: dict[uuid.UUID, Rules | None] = {}
    for row in rows:
        if row.collection_id not in rules_of:
            rules_of[row.collection_id] = compile_rules(
                partner_id=partner.pk, collection=row.collection, now=now
            )
        rules = rules_of[row.collection_id]
        if rules is None:
            decision = Decision(False, "grant")
        else:
            facts = VersionFacts(
                stix_id=row.stix_id,
                type=row.type,
                tlp_rank=row.tlp_rank,
                source_partner_id=row.source_partner_id,
                date_added=row.date_added,
                granular_rank=row.granular_rank,
                granular_required_rank=row.granular_required_rank,
                routed_to_id=row.routed_to_id,
                **(_reference_facts(rules, row.pk, now) if row.has_refs else {}),
            )
            decision = decide(rules, facts, now)
        found.append(
            Explanation(
                row.collection_id, stix.format_version(row.version), row.date_added, decision
            )
        )
    return found
