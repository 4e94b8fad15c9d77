"""STIX 2.1 → 2.0 down-conversion and 2.0 → 2.1 up-conversion (pure; no database)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import stix2.v20
from stix2 import parse as stix2_parse

from intelshare import stix
from intelshare import stixids as ids
from intelshare.taxii20 import convert
from tests.factories import TLP2_GREEN, indicator, malware


def test_property_table_is_stix20() -> None:
    """The property and required tables are those of stix2's STIX 2.0 classes."""
    for name, cls in stix2.v20.OBJ_MAP.items():
        if name == "bundle":
            continue
        assert convert.PROPERTIES[name] == frozenset(cls._properties) - {"spec_version"}, name
        required = {p for p, prop in cls._properties.items() if prop.required}
        assert required <= set(convert.REQUIRED.get(name, ())) | {"type", "id", "created"}, name
    assert set(convert.PROPERTIES) == set(stix2.v20.OBJ_MAP) - {"bundle"}


def test_types_21_only_are_those_2_0_lacks() -> None:
    import stix2.v21

    sdo_sro = set(stix2.v21.OBJ_MAP) - set(stix2.v20.OBJ_MAP)
    assert sdo_sro <= convert.TYPES_21_ONLY
    assert stix.SCO_TYPES <= convert.TYPES_21_ONLY
    assert not convert.TYPES_21_ONLY & set(stix2.v20.OBJ_MAP)


def _down(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, convert.Tally]:
    tally = convert.Tally()
    original = copy.deepcopy(obj)
    result = convert.down(obj, tally)
    assert obj == original  # the stored object is never changed in place
    return result, tally


def test_indicator_down_is_valid_stix20() -> None:
    obj, tally = _down(
        indicator(
            1,
            markings=[TLP2_GREEN],
            confidence=60,
            lang="en",
            indicator_types=["malicious-activity"],
            x_llm_score=3,
        )
    )
    assert obj is not None
    stix2_parse(obj, version="2.0", allow_custom=True)
    assert "spec_version" not in obj and "pattern_type" not in obj
    assert obj["labels"] == ["malicious-activity"]
    assert obj["object_marking_refs"] == [ids.TLP1_GREEN]
    assert obj["x_llm_score"] == 3  # custom properties pass
    assert tally.dropped == {"pattern_type": 1, "confidence": 1, "lang": 1, "indicator_types": 1}
    assert not tally.skipped


def test_labels_fall_back_to_unknown_and_keep_2_1_labels() -> None:
    obj, _ = _down(indicator(1))
    assert obj is not None and obj["labels"] == ["unknown"]
    obj, _ = _down(indicator(1, labels=["prompt-injection"], indicator_types=["x"]))
    assert obj is not None and obj["labels"] == ["prompt-injection"]


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (indicator(1, pattern_type="sigma"), "indicator-pattern-type"),
        (indicator(1, markings=[ids.TLP2_AMBER_STRICT]), "tlp-amber-strict"),
        (
            {"type": "grouping", "id": "grouping--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12},
            "type-grouping",
        ),
        (ids.tlp2_marking("red"), "marking-definition-2.1"),
        ({k: v for k, v in malware(1).items() if k != "name"}, "malware-without-name"),
        (
            {
                "type": "observed-data",
                "spec_version": "2.1",
                "id": "observed-data--a1b2c3d4-0000-4000-8000-000000000001",
                "created": "2024-01-01T00:00:00Z",
                "modified": "2024-01-01T00:00:00Z",
                "first_observed": "2024-01-01T00:00:00Z",
                "last_observed": "2024-01-01T00:00:00Z",
                "number_observed": 1,
                "object_refs": ["ipv4-addr--a1b2c3d4-0000-4000-8000-000000000002"],
            },
            "observed-data-without-objects",
        ),
    ],
)
def test_not_expressible_is_skipped_and_counted(obj: dict[str, Any], reason: str) -> None:
    result, tally = _down(obj)
    assert result is None
    assert tally.skipped == {reason: 1}
    assert tally.headers()["X-Intelshare-Stix20-Skipped"] == "1"


def test_tlp1_marking_definition_down() -> None:
    tlp = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": ids.TLP1_RED,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:RED",
        "definition": {"tlp": "red"},
    }
    obj, tally = _down(tlp)
    assert obj is not None
    assert stix2_parse(obj, version="2.0") == stix2.v20.TLP_RED
    assert tally.dropped == {"name": 1}


def test_granular_markings_down() -> None:
    obj, tally = _down(
        indicator(
            1,
            granular_markings=[
                {"marking_ref": TLP2_GREEN, "selectors": ["description"]},
                {"lang": "en", "selectors": ["name"]},
            ],
            description="d",
        )
    )
    assert obj is not None
    assert obj["granular_markings"] == [
        {"marking_ref": ids.TLP1_GREEN, "selectors": ["description"]}
    ]
    assert tally.dropped["granular_markings.lang"] == 1


def test_custom_type_passes_without_21_extensions() -> None:
    custom = {
        "type": "x-llm-prompt",
        "spec_version": "2.1",
        "id": "x-llm-prompt--a1b2c3d4-0000-4000-8000-000000000003",
        "created": "2024-01-01T00:00:00Z",
        "modified": "2024-01-01T00:00:00Z",
        "text": "SYNTHETIC",
        "extensions": {ids.LLM_MISUSE_EXTENSION_ID: {"extension_type": "new-sdo"}},
    }
    obj, tally = _down(custom)
    assert obj == {k: v for k, v in custom.items() if k not in ("spec_version", "extensions")}
    assert tally.dropped == {"extensions": 1}


def test_up_then_down_round_trips_a_stix20_object() -> None:
    """What a 2.0 writer POSTs is stored as 2.1 that ingest accepts and reads back
    over 2.0 as it was sent."""
    sent = {
        "type": "malware",
        "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        "created": "2016-04-06T20:07:09.000Z",
        "modified": "2016-04-06T20:07:09.000Z",
        "name": "SYNTHETIC Poison Ivy",
        "labels": ["remote-access-trojan"],
    }
    stored = convert.up(sent)
    assert stored["spec_version"] == "2.1" and stored["is_family"] is True
    stix.inspect(stored)  # the ingest check
    assert convert.down(stored, convert.Tally()) == sent
    already = indicator(1)
    assert convert.up(already) is already  # 2.1 objects are left to ingest
    assert convert.up("not an object") == "not an object"
