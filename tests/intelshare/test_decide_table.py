"""``policy.decide`` as a table: one row per rule of DESIGN.md "Sharing policy", no database.

Each row changes one thing from a version every rule lets through, so a rule that stops
firing, fires too often or moves before another in the order fails its own row.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intelshare import stix
from intelshare import stixids as ids
from intelshare.policy import Decision, Rules, VersionFacts, decide

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PARTNER, OTHER, CONSENTING = 1, 2, 3

RULES = Rules(
    partner_id=PARTNER,
    grant_id=10,
    collection_id=uuid.UUID(int=7),
    can_read=True,
    can_write=False,
    active=True,
    tlp_ceiling=stix.TLP_AMBER,
    default_tlp=stix.TLP_GREEN,
    allowed_types=None,
    denied_types=frozenset(),
    embargo=timedelta(0),
    redact=False,
    consenting=frozenset({CONSENTING}),
)
FACTS = VersionFacts(
    stix_id="indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    type="indicator",
    tlp_rank=stix.TLP_GREEN,
    source_partner_id=None,
    date_added=NOW - timedelta(days=1),
)

# (case, changes to RULES, changes to FACTS, shared, rule)
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool, str]] = [
    ("every rule passes", {}, {}, True, "shared"),
    ("agreement outside its validity", {"active": False}, {}, False, "validity"),
    (
        "validity before own contribution",
        {"active": False},
        {"source_partner_id": PARTNER},
        False,
        "validity",
    ),
    ("grant without read", {"can_read": False}, {}, False, "grant"),
    (
        "grant before own contribution",
        {"can_read": False},
        {"source_partner_id": PARTNER},
        False,
        "grant",
    ),
    (
        "own contribution above the ceiling",
        {},
        {"source_partner_id": PARTNER, "tlp_rank": stix.TLP_RED, "type": "malware"},
        True,
        "own-contribution",
    ),
    (
        "own contribution of a denied type",
        {"denied_types": frozenset({"indicator"})},
        {"source_partner_id": PARTNER},
        True,
        "own-contribution",
    ),
    (
        "TLP marking definition above the ceiling",
        {"tlp_ceiling": stix.TLP_CLEAR},
        {"stix_id": ids.TLP2_RED, "type": "marking-definition", "tlp_rank": stix.TLP_CLEAR},
        True,
        "tlp-marking-definition",
    ),
    ("at the ceiling", {}, {"tlp_rank": stix.TLP_AMBER}, True, "shared"),
    ("above the ceiling", {}, {"tlp_rank": stix.TLP_AMBER_STRICT}, False, "tlp-ceiling"),
    (
        "unmarked: the collection's default, under the ceiling",
        {},
        {"tlp_rank": None},
        True,
        "shared",
    ),
    (
        "unmarked: the collection's default, above the ceiling",
        {"default_tlp": stix.TLP_RED},
        {"tlp_rank": None},
        False,
        "tlp-ceiling",
    ),
    ("another partner's GREEN", {}, {"source_partner_id": OTHER}, True, "shared"),
    (
        "another partner's AMBER without consent",
        {},
        {"source_partner_id": OTHER, "tlp_rank": stix.TLP_AMBER},
        False,
        "originator-control",
    ),
    (
        "another partner's AMBER with consent",
        {},
        {"source_partner_id": CONSENTING, "tlp_rank": stix.TLP_AMBER},
        True,
        "shared",
    ),
    (
        "another partner's AMBER+STRICT even with consent",
        {"tlp_ceiling": stix.TLP_RED},
        {"source_partner_id": CONSENTING, "tlp_rank": stix.TLP_AMBER_STRICT},
        False,
        "originator-control",
    ),
    (
        "another partner's RED even with consent",
        {"tlp_ceiling": stix.TLP_RED},
        {"source_partner_id": CONSENTING, "tlp_rank": stix.TLP_RED},
        False,
        "originator-control",
    ),
    (
        "ceiling before originator control",
        {},
        {"source_partner_id": OTHER, "tlp_rank": stix.TLP_RED},
        False,
        "tlp-ceiling",
    ),
    ("type not in the allowed list", {"allowed_types": frozenset({"malware"})}, {}, False, "types"),
    ("type in the allowed list", {"allowed_types": frozenset({"indicator"})}, {}, True, "shared"),
    ("denied type", {"denied_types": frozenset({"indicator"})}, {}, False, "types"),
    (
        "originator control before types",
        {"denied_types": frozenset({"indicator"})},
        {"source_partner_id": OTHER, "tlp_rank": stix.TLP_AMBER},
        False,
        "originator-control",
    ),
    ("inside the embargo", {"embargo": timedelta(days=2)}, {}, False, "embargo"),
    ("embargo ends exactly now", {"embargo": timedelta(days=1)}, {}, True, "shared"),
    (
        "types before embargo",
        {"embargo": timedelta(days=2), "denied_types": frozenset({"indicator"})},
        {},
        False,
        "types",
    ),
    (
        "granular marking above the ceiling",
        {},
        {"granular_rank": stix.TLP_RED},
        False,
        "granular-markings",
    ),
    ("granular marking at the ceiling", {}, {"granular_rank": stix.TLP_AMBER}, True, "shared"),
    (
        "redacting: only a required granular marking counts",
        {"redact": True},
        {"granular_rank": stix.TLP_RED, "granular_required_rank": None},
        True,
        "shared",
    ),
    (
        "redacting: a required granular marking above the ceiling",
        {"redact": True},
        {"granular_rank": stix.TLP_RED, "granular_required_rank": stix.TLP_RED},
        False,
        "granular-markings",
    ),
    (
        "embargo before granular markings",
        {"embargo": timedelta(days=2)},
        {"granular_rank": stix.TLP_RED},
        False,
        "embargo",
    ),
    (
        "relationship to a hidden endpoint",
        {},
        {"type": "relationship", "endpoint_hidden": True},
        False,
        "references",
    ),
    (
        "report whose members are all hidden",
        {},
        {"type": "report", "members": 3, "members_hidden": 3},
        False,
        "references",
    ),
    (
        "report with one visible member",
        {},
        {"type": "report", "members": 3, "members_hidden": 2},
        True,
        "shared",
    ),
    ("report without members", {}, {"type": "report", "members": 0}, True, "shared"),
    (
        "own contribution is not checked for references",
        {},
        {"source_partner_id": PARTNER, "endpoint_hidden": True},
        True,
        "own-contribution",
    ),
    (
        "a base rule before references",
        {"tlp_ceiling": stix.TLP_CLEAR},
        {"endpoint_hidden": True},
        False,
        "tlp-ceiling",
    ),
]


@pytest.mark.parametrize(
    ("rules", "facts", "shared", "rule"),
    [pytest.param(r, f, s, why, id=case) for case, r, f, s, why in TABLE],
)
def test_decide(rules: dict[str, Any], facts: dict[str, Any], shared: bool, rule: str) -> None:
    got = decide(replace(RULES, **rules), replace(FACTS, **facts), NOW)
    assert got == Decision(shared, rule)
