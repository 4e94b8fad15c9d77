"""Synthetic feed generator: valid, deterministic, varied, fast."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance

from intelshare import stix
from intelshare.content.extension import EXTENSION_ID, validate_extensions
from intelshare.content.generator import (
    DEFAULT_PARTNERS,
    generate,
    generate_with_sources,
)
from intelshare.stixids import HUB_IDENTITY_ID, TLP1_IDS, TLP2_IDS, fixed_id


@pytest.fixture(scope="module")
def feed() -> list[tuple[dict[str, Any], str | None]]:
    return list(generate_with_sources(4000, 11))


def refs_of(obj: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in obj.items():
        if key.endswith("_refs"):
            found += value
        elif key.endswith("_ref"):
            found.append(value)
    found += [g["marking_ref"] for g in obj.get("granular_markings", [])]
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_feed_validates(seed: int) -> None:
    """STIX 2.1 per stix2-validator: patterns (§9), markings (§7.2), ids (§2.9)."""
    objects = list(generate(200, seed))
    bundle = {
        "type": "bundle",
        "id": "bundle--6a0b7e1c-2f4e-4d4a-9a3e-1d2c3b4a5f6e",
        "objects": objects,
    }
    result = validate_instance(bundle, ValidationOptions())
    assert result.is_valid, [str(e) for e in result.errors][:10]
    for obj in objects:
        assert stix2.parse(obj, allow_custom=True).id == obj["id"]


def test_every_object_passes_the_hub_checks(feed: list[tuple[dict[str, Any], Any]]) -> None:
    for obj, _ in feed:
        stix.inspect(obj)
        assert validate_extensions(obj) == [], obj["id"]


def test_same_seed_same_bytes_and_prefixes_agree() -> None:
    first = json.dumps(list(generate(500, 42)))
    assert first == json.dumps(list(generate(500, 42)))
    assert first != json.dumps(list(generate(500, 43)))
    assert list(generate(120, 42)) == json.loads(first)[:120]
    assert list(generate(300, 42)) == [o for o, _ in generate_with_sources(300, 42)]


def test_counts_and_arguments() -> None:
    assert list(generate(0, 1)) == []
    assert len(list(generate(3, 1))) == 3
    with pytest.raises(ValueError, match="negative"):
        generate(-1, 1)
    with pytest.raises(ValueError, match="unique"):
        generate(5, 1, partners=["a", "a"])
    assert {s for _, s in generate_with_sources(500, 1, [])} == {None}


def test_references_point_backwards(feed: list[tuple[dict[str, Any], Any]]) -> None:
    """Any prefix is self-contained: markings (§7.2), SRO ends (§5), report refs."""
    seen: set[str] = set()
    for obj, _ in feed:
        for ref in refs_of(obj):
            assert ref in seen, (obj["id"], ref)
        seen.add(obj["id"])


def test_contributors_match_created_by_ref(feed: list[tuple[dict[str, Any], Any]]) -> None:
    sources = Counter(source for _, source in feed)
    assert set(sources) == {None, *DEFAULT_PARTNERS}
    for obj, source in feed:
        if "created_by_ref" in obj:
            expected = fixed_id("identity", f"partner:{source}") if source else HUB_IDENTITY_ID
            assert obj["created_by_ref"] == expected


def test_versions_come_later_from_the_same_contributor(
    feed: list[tuple[dict[str, Any], Any]],
) -> None:
    """STIX 2.1 §3.6: a new version keeps id, created and creator; modified grows."""
    history: dict[str, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
    for obj, source in feed:
        history[obj["id"]].append((obj, source))
    versioned = {k: v for k, v in history.items() if len(v) > 1}
    assert len(versioned) > 50
    assert any(o.get("revoked") for o, _ in feed)
    for versions in versioned.values():
        stamps = [o["modified"] for o, _ in versions]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert len({(o["created"], o["created_by_ref"], s) for o, s in versions}) == 1
        assert not any(o.get("revoked") for o, _ in versions[:-1])


def test_feed_has_the_variety_policy_tests_need(feed: list[tuple[dict[str, Any], Any]]) -> None:
    objects = [obj for obj, _ in feed]
    types = Counter(o["type"] for o in objects)
    for stix_type in (
        "indicator",
        "relationship",
        "sighting",
        "campaign",
        "intrusion-set",
        "malware",
        "report",
        "marking-definition",
    ):
        assert types[stix_type] > 0, stix_type
    assert {o["pattern_type"] for o in objects if o["type"] == "indicator"} == {
        "stix",
        "pcre",
        "yara",
        "sigma",
    }
    markings = Counter(ref for o in objects for ref in o.get("object_marking_refs", []))
    assert set(TLP2_IDS.values()) | set(TLP1_IDS.values()) <= set(markings)
    assert any(
        "object_marking_refs" not in o for o in objects if o["type"] not in ("marking-definition",)
    )
    granular = [o for o in objects if "granular_markings" in o]
    assert granular
    assert any(
        f"extensions.{EXTENSION_ID}.prompt_text" in g["selectors"]
        for o in granular
        for g in o["granular_markings"]
    )
    text = json.dumps(objects)
    assert ".example" in text and "org-SYNTHETIC" in text
