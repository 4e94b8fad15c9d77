"""The starter pack: the Microsoft/OpenAI report of 2024-02-14 as STIX 2.1."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance

from intelshare import stix
from intelshare.content.extension import EXTENSION_ID, validate_extensions
from intelshare.content.pack import build_pack
from intelshare.stixids import HUB_IDENTITY_ID, TLP2_CLEAR

# The report's table (shared/domain/llm-misuse.md §1.2), typed in independently
# of data/report-2024-02-14.json so a slip in either shows up here.
REPORT_USES = {
    "Forest Blizzard": {"llm-informed-reconnaissance", "llm-enhanced-scripting"},
    "Emerald Sleet": {
        "llm-assisted-vulnerability-research",
        "llm-enhanced-scripting",
        "llm-supported-social-engineering",
        "llm-informed-reconnaissance",
    },
    "Crimson Sandstorm": {
        "llm-supported-social-engineering",
        "llm-enhanced-scripting",
        "llm-enhanced-detection-evasion",
    },
    "Charcoal Typhoon": {
        "llm-informed-reconnaissance",
        "llm-enhanced-scripting",
        "llm-supported-social-engineering",
        "llm-refined-operational-commands",
    },
    "Salmon Typhoon": {
        "llm-informed-reconnaissance",
        "llm-enhanced-scripting",
        "llm-refined-operational-commands",
        "llm-aided-translation",
    },
}


@pytest.fixture(scope="module")
def pack() -> list[dict[str, Any]]:
    return build_pack()


@pytest.fixture(scope="module")
def by_id(pack: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in pack}


def of_type(pack: list[dict[str, Any]], stix_type: str) -> list[dict[str, Any]]:
    return [obj for obj in pack if obj["type"] == stix_type]


def test_pack_validates(pack: list[dict[str, Any]]) -> None:
    """STIX 2.1 as a whole, per stix2-validator (no errors; warnings allowed)."""
    bundle = {
        "type": "bundle",
        "id": "bundle--6a0b7e1c-2f4e-4d4a-9a3e-1d2c3b4a5f6e",
        "objects": pack,
    }
    result = validate_instance(bundle, ValidationOptions())
    assert result.is_valid, [str(e) for e in result.errors]


def test_pack_parses_with_the_stix2_library(pack: list[dict[str, Any]]) -> None:
    for obj in pack:
        assert stix2.parse(obj, allow_custom=True).id == obj["id"]


def test_pack_passes_the_hub_structural_check(pack: list[dict[str, Any]]) -> None:
    for obj in pack:
        stix.inspect(obj)
        assert validate_extensions(obj) == []


def test_pack_is_deterministic_and_unshared(pack: list[dict[str, Any]]) -> None:
    """Fixed ids and timestamps: a second load is a no-op (STIX 2.1 §3.6 versioning)."""
    again = build_pack()
    assert again == pack
    again[3]["external_references"][0]["url"] = "changed"
    assert build_pack() == pack
    assert len({obj["id"] for obj in pack}) == len(pack)


def test_every_object_is_tlp_clear(pack: list[dict[str, Any]]) -> None:
    """STIX 2.1 §7.2.2: object_marking_refs; TLP:CLEAR (TLP 2.0) is included."""
    assert pack[0]["id"] == TLP2_CLEAR
    for obj in pack[1:]:
        assert obj["object_marking_refs"] == [TLP2_CLEAR], obj["id"]


def test_hub_identity_and_extension_definition_included(
    pack: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    """STIX 2.1 §7.3.1: the definition ships with the objects that use it."""
    assert by_id[HUB_IDENTITY_ID]["type"] == "identity"
    assert by_id[EXTENSION_ID]["type"] == "extension-definition"
    for obj in pack:
        if obj["id"] != HUB_IDENTITY_ID and obj["type"] != "marking-definition":
            assert obj["created_by_ref"] == HUB_IDENTITY_ID


def test_the_five_intrusion_sets_with_aliases(pack: list[dict[str, Any]]) -> None:
    """STIX 2.1 §4.9: intrusion-set with aliases."""
    sets = {obj["name"]: obj for obj in of_type(pack, "intrusion-set")}
    assert set(sets) == set(REPORT_USES)
    assert {"STRONTIUM", "APT28", "Fancy Bear"} <= set(sets["Forest Blizzard"]["aliases"])
    assert "Kimsuky" in sets["Emerald Sleet"]["aliases"]
    assert "Imperial Kitten" in sets["Crimson Sandstorm"]["aliases"]
    assert "Aquatic Panda" in sets["Charcoal Typhoon"]["aliases"]
    assert "Maverick Panda" in sets["Salmon Typhoon"]["aliases"]


def test_uses_exactly_as_the_report_states(
    pack: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    """STIX 2.1 §4.9.2: intrusion-set uses attack-pattern."""
    found: dict[str, set[str]] = {}
    for rel in of_type(pack, "relationship"):
        if rel["relationship_type"] == "uses":
            actor = by_id[rel["source_ref"]]
            pattern = by_id[rel["target_ref"]]
            assert actor["type"] == "intrusion-set"
            slug = pattern["extensions"][EXTENSION_ID]["abuse_category"][0]
            found.setdefault(actor["name"], set()).add(slug)
            assert rel["description"]
    assert found == REPORT_USES


def test_sponsors_are_threat_actors_where_named(
    pack: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    """STIX 2.1 §4.9.2 and §4.17: intrusion-set attributed-to threat-actor."""
    links = {
        (by_id[r["source_ref"]]["name"], by_id[r["target_ref"]]["name"])
        for r in of_type(pack, "relationship")
        if r["relationship_type"] == "attributed-to"
    }
    assert links == {
        ("Forest Blizzard", "GRU Unit 26165"),
        ("Crimson Sandstorm", "Islamic Revolutionary Guard Corps (IRGC)"),
    }
    for actor in of_type(pack, "threat-actor"):
        assert actor["threat_actor_types"] == ["nation-state"]


def test_mitre_ids_are_labelled_by_who_published_them(pack: list[dict[str, Any]]) -> None:
    """STIX 2.1 §2.5 external references: MITRE's own link vs the hub's mapping."""
    patterns = of_type(pack, "attack-pattern")
    assert len(patterns) == 11
    mitre = [
        (p["name"], r["external_id"])
        for p in patterns
        for r in p["external_references"]
        if r["source_name"].startswith("mitre")
    ]
    assert mitre == [("LLM-informed reconnaissance", "T1682")]
    mapped = [
        r
        for p in pattern_and_coas(pack)
        for r in p["external_references"]
        if r["source_name"] == "intelshare-mapping"
    ]
    assert len(mapped) > 10
    for ref in mapped:
        assert ref["description"].startswith("intelshare's suggested mapping")
        assert ref["url"].startswith(("https://atlas.mitre.org/", "https://attack.mitre.org/"))


def pattern_and_coas(pack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_type(pack, "attack-pattern") + of_type(pack, "course-of-action")


def test_courses_of_action_mitigate_the_ttps(
    pack: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    """STIX 2.1 §4.3: course-of-action mitigates attack-pattern."""
    assert len(of_type(pack, "course-of-action")) == 4
    mitigates = Counter(
        by_id[r["source_ref"]]["name"]
        for r in of_type(pack, "relationship")
        if r["relationship_type"] == "mitigates"
    )
    assert mitigates == {
        "Identify and act on malicious use of AI services": 11,
        "Notify other AI service providers": 11,
    }


def test_report_ties_everything_together(
    pack: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    """STIX 2.1 §4.16: report with published and object_refs that resolve."""
    (report,) = of_type(pack, "report")
    assert report["published"] == "2024-02-14T00:00:00.000Z"
    content = {
        o["id"]
        for o in pack
        if o["type"] not in ("marking-definition", "identity", "extension-definition", "report")
    }
    assert set(report["object_refs"]) == content
    for obj in pack:
        for key, value in obj.items():
            refs = value if key.endswith("_refs") else [value] if key.endswith("_ref") else []
            for ref in refs:
                assert ref in by_id, (obj["id"], key, ref)
