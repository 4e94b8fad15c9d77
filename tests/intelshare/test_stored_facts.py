"""A collection's stored facts (``models.StoredFacts``), raised by every ingest, and
``policy.rules.withholds_nothing``, which reads them to skip rules that cannot apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from intelshare import ingest, stix
from intelshare import stixids as ids
from intelshare.models import Collection, ObjectVersion, Partner, StoredFacts
from intelshare.policy.rules import Rules, withholds_nothing
from tests.conftest import World
from tests.factories import indicator, malware
from tests.intelshare.test_decide_table import RULES as TABLE_RULES

GREEN_ONLY = StoredFacts(rank=stix.TLP_GREEN, granular=-1, partner_rank=-1)
# decide()'s table's rules, at a GREEN ceiling over an AMBER default, no consents.
RULES = replace(
    TABLE_RULES, tlp_ceiling=stix.TLP_GREEN, default_tlp=stix.TLP_AMBER, consenting=frozenset()
)


def test_green_objects_under_a_green_ceiling_withhold_nothing() -> None:
    assert withholds_nothing(RULES, GREEN_ONLY)
    assert withholds_nothing(RULES, StoredFacts())  # an empty collection


@pytest.mark.parametrize(
    ("facts", "rules"),
    [
        (replace(GREEN_ONLY, rank=stix.TLP_AMBER), RULES),
        (replace(GREEN_ONLY, unmarked=True), RULES),  # the AMBER default applies
        (replace(GREEN_ONLY, granular=stix.TLP_AMBER), RULES),
        (replace(GREEN_ONLY, granular=stix.TLP_AMBER), replace(RULES, redact=True)),
        (replace(GREEN_ONLY, partner_rank=stix.TLP_AMBER), replace(RULES, tlp_ceiling=4)),
        (replace(GREEN_ONLY, partner_unmarked=True), replace(RULES, tlp_ceiling=4)),
        (replace(GREEN_ONLY, partner_sightings=True), RULES),
        (GREEN_ONLY, replace(RULES, allowed_types=frozenset({"indicator"}))),
        (GREEN_ONLY, replace(RULES, denied_types=frozenset({"malware"}))),
        (GREEN_ONLY, replace(RULES, embargo=timedelta(hours=1))),
        (GREEN_ONLY, replace(RULES, active=False)),
        (GREEN_ONLY, replace(RULES, can_read=False)),
    ],
)
def test_any_rule_that_might_apply_means_the_rules_are_checked(
    facts: StoredFacts, rules: Rules
) -> None:
    assert not withholds_nothing(rules, facts)


def test_a_partners_green_contributions_flow_without_a_check() -> None:
    facts = replace(GREEN_ONLY, partner_rank=stix.TLP_GREEN)
    assert withholds_nothing(replace(RULES, tlp_ceiling=4), facts)


@pytest.mark.django_db
def test_ingest_raises_the_facts_and_a_deletion_leaves_them(world: World) -> None:
    collection = world.collection
    assert Collection.objects.get(pk=collection.pk).facts == StoredFacts()
    ingest.store(collection=collection, objects=[indicator(0, markings=[ids.TLP2_GREEN])])
    assert Collection.objects.get(pk=collection.pk).facts == StoredFacts(rank=stix.TLP_GREEN)
    acme = Partner.objects.get(slug="acme")
    granular = {
        "granular_markings": [{"marking_ref": ids.TLP2_RED, "selectors": ["description"]}],
        "description": "SYNTHETIC",
    }
    ingest.store(
        collection=collection,
        objects=[indicator(1, markings=[ids.TLP2_AMBER], **granular), malware(2)],
        source_partner=acme,
    )
    expected = StoredFacts(
        rank=stix.TLP_AMBER,
        unmarked=True,
        granular=stix.TLP_RED,
        partner_rank=stix.TLP_AMBER,
        partner_unmarked=True,
    )
    assert Collection.objects.get(pk=collection.pk).facts == expected
    doomed = ObjectVersion.objects.filter(stix_id=malware(2)["id"]).values_list("pk", flat=True)
    ingest.delete(collection=collection, stix_id=malware(2)["id"], version_pks=list(doomed))
    assert Collection.objects.get(pk=collection.pk).facts == expected  # never lowered


@pytest.mark.django_db
def test_recounting_lowers_the_facts_a_deletion_left(world: World) -> None:
    collection = world.collection
    ingest.store(collection=collection, objects=[indicator(0, markings=[ids.TLP2_GREEN])])
    red = {**malware(1), "object_marking_refs": [ids.TLP2_RED]}
    ingest.store(collection=collection, objects=[red])
    doomed = ObjectVersion.objects.filter(stix_id=red["id"]).values_list("pk", flat=True)
    ingest.delete(collection=collection, stix_id=red["id"], version_pks=list(doomed))
    assert Collection.objects.get(pk=collection.pk).facts.rank == stix.TLP_RED
    out = StringIO()
    call_command("recount_facts", "llm-misuse", stdout=out)
    assert Collection.objects.get(pk=collection.pk).facts == StoredFacts(rank=stix.TLP_GREEN)
    assert "llm-misuse: StoredFacts(rank=4" in out.getvalue()
    call_command("recount_facts", stdout=out)
    assert "llm-misuse: unchanged" in out.getvalue()
