"""Fixed ids: TLP markings (STIX 2.1 §7.2.1.4, OASIS TLP 2.0) and hub ids."""

from __future__ import annotations

import json
import uuid

import stix2
from stix2validator import ValidationOptions, validate_instance

from intelshare import stix, stixids


def test_tlp_marking_objects_validate() -> None:
    """STIX 2.1 §7.2.1.4 (TLP 1.0 instances) and the TLP 2.0 extension form."""
    bundle = {
        "type": "bundle",
        "id": "bundle--6a0b7e1c-2f4e-4d4a-9a3e-1d2c3b4a5f6e",
        "objects": stixids.all_tlp_markings(),
    }
    result = validate_instance(bundle, ValidationOptions())
    assert result.is_valid, [str(e) for e in result.errors]
    assert len(bundle["objects"]) == 9


def test_tlp1_objects_equal_the_stix2_library_definitions() -> None:
    """STIX 2.1 §7.2.1.4: the predefined TLP 1.0 objects are the only valid ones."""
    for level, expected in (
        ("white", stix2.TLP_WHITE),
        ("green", stix2.TLP_GREEN),
        ("amber", stix2.TLP_AMBER),
        ("red", stix2.TLP_RED),
    ):
        assert stixids.tlp1_marking(level) == json.loads(expected.serialize())


def test_tlp2_objects_carry_the_oasis_extension() -> None:
    for level, marking_id in stixids.TLP2_IDS.items():
        obj = stixids.tlp2_marking(level)
        assert obj["id"] == marking_id
        assert obj["created"] == "2022-10-01T00:00:00.000Z"
        assert obj["extensions"][stixids.TLP2_EXTENSION_ID] == {
            "extension_type": "property-extension",
            "tlp_2_0": level,
        }


def test_policy_ranks_the_exact_tlp_ids() -> None:
    """STIX 2.1 §7.2.1.4 and the OASIS TLP 2.0 extension: exact ids, typed out here
    from shared/domain/llm-misuse.md §5.4 so a mistyped constant fails."""
    assert stix.TLP_MARKINGS == {
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": 0,  # 1.0 WHITE
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": 1,  # 1.0 GREEN
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": 2,  # 1.0 AMBER
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": 4,  # 1.0 RED
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": 0,  # 2.0 CLEAR
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": 1,  # 2.0 GREEN
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": 2,  # 2.0 AMBER
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": 3,  # 2.0 AMBER+STRICT
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": 4,  # 2.0 RED
    }
    assert stix.TLP2_EXTENSION_ID == ("extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d")


def test_fixed_ids_are_stable_uuid4() -> None:
    """STIX 2.1 §2.9: SDO ids SHOULD be UUIDv4; ours are fixed for idempotent loads."""
    first = stixids.fixed_id("intrusion-set", "Forest Blizzard")
    assert first == stixids.fixed_id("intrusion-set", "Forest Blizzard")
    assert first == "intrusion-set--" + first.split("--")[1]
    assert uuid.UUID(first.split("--")[1]).version == 4
    assert first != stixids.fixed_id("intrusion-set", "Emerald Sleet")
    for fixed in (stixids.HUB_IDENTITY_ID, stixids.LLM_MISUSE_EXTENSION_ID):
        assert uuid.UUID(fixed.split("--")[1]).version == 4
