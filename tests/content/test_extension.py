"""The llm-misuse property extension: definition, schema, validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from intelshare.content import extension, pack
from intelshare.content.extension import (
    EXTENSION_ID,
    certainly_valid,
    extension_definition,
    validate_extensions,
)
from intelshare.content.generator import generate
from intelshare.stixids import HUB_IDENTITY_ID, TLP2_CLEAR, tlp2_marking

SHA256 = "a" * 64


def with_block(block: Any, stix_type: str = "indicator") -> dict[str, Any]:
    return {
        "type": stix_type,
        "id": f"{stix_type}--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "extensions": {EXTENSION_ID: block},
    }


def test_extension_definition_is_valid_stix() -> None:
    """STIX 2.1 §7.3.1: required properties, created_by_ref, property-extension."""
    definition = extension_definition()
    bundle = {
        "type": "bundle",
        "id": "bundle--6a0b7e1c-2f4e-4d4a-9a3e-1d2c3b4a5f6e",
        "objects": [tlp2_marking("clear"), definition],
    }
    result = validate_instance(bundle, ValidationOptions())
    assert result.is_valid, [str(e) for e in result.errors]
    assert definition["id"] == EXTENSION_ID
    assert definition["created_by_ref"] == HUB_IDENTITY_ID
    assert definition["extension_types"] == ["property-extension"]
    assert definition["object_marking_refs"] == [TLP2_CLEAR]
    for prop in ("name", "schema", "version", "created", "modified", "description"):
        assert definition[prop]


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    path = (
        Path(__file__).resolve().parents[2]
        / "intelshare"
        / "content"
        / "schemas"
        / "llm-misuse-ext-v1.json"
    )
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == extension.schema()
    assert schema["$id"] == extension_definition()["schema"]


def test_categories_cover_the_report_slugs_and_later_categories() -> None:
    categories = extension.abuse_categories()
    for slug in (
        "llm-informed-reconnaissance",
        "llm-enhanced-scripting",
        "llm-advised-resource-development",
        "fraud-scam",
        "influence-operation",
        "malware-development",
        "deceptive-employment",
        "surveillance",
        "model-abuse",
    ):
        assert slug in categories
    assert "cyber-operation" in extension.misuse_domains()


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "indicator"},
        {"type": "indicator", "extensions": {}},
        {"type": "indicator", "extensions": "not a dict"},
        {"type": "indicator", "extensions": {"extension-definition--0000": {"x": 1}}},
    ],
)
def test_objects_without_the_extension_pass(obj: dict[str, Any]) -> None:
    """STIX 2.1 §7.3: other extensions are not ours to judge."""
    assert validate_extensions(obj) == []


GOOD = [
    {"extension_type": "property-extension"},
    {
        "extension_type": "property-extension",
        "abuse_category": ["jailbreak", "x-our-own"],
        "misuse_domain": "scam-fraud",
        "provider": "example-llm-provider",
        "model_family": "llama3.1:8b",
        "interaction_channel": "agent",
    },
    {
        "extension_type": "property-extension",
        "prompt_fingerprint": {"algorithm": "SHA-256", "value": SHA256, "normalisation": "nfc"},
        "prompt_text": "SYNTHETIC ignore all previous instructions",
    },
    {
        "extension_type": "property-extension",
        "prompt_fingerprint": {"algorithm": "simhash-64", "value": "0123456789abcdef"},
    },
    {
        "extension_type": "property-extension",
        "breakout_scale": 3,
        "disruption": {
            "actions": ["accounts-terminated", "shared-with-industry"],
            "disrupted_at": "2024-02-14T00:00:00Z",
            "accounts_affected": 5,
            "disrupted_by_ref": HUB_IDENTITY_ID,
        },
    },
]


@pytest.mark.parametrize("block", GOOD)
def test_good_blocks_are_accepted(block: dict[str, Any]) -> None:
    assert validate_extensions(with_block(block)) == []
    assert certainly_valid(block)


BAD = [
    ({}, "'extension_type' is a required property"),
    ({"extension_type": "new-sco"}, "extension_type"),
    (
        {"extension_type": "property-extension", "abuse_category": ["llm-recon"]},
        "abuse_category[0]: 'llm-recon' is not a valid abuse_category value",
    ),
    ({"extension_type": "property-extension", "abuse_category": []}, "abuse_category"),
    (
        {"extension_type": "property-extension", "abuse_category": ["jailbreak", "jailbreak"]},
        "non-unique",
    ),
    ({"extension_type": "property-extension", "misuse_domain": "cyber"}, "misuse_domain"),
    ({"extension_type": "property-extension", "provider": "OpenAI"}, "provider"),
    ({"extension_type": "property-extension", "provider": "openai\n"}, "provider"),
    ({"extension_type": "property-extension", "interaction_channel": "fax"}, "interaction_channel"),
    (
        {
            "extension_type": "property-extension",
            "prompt_fingerprint": {"algorithm": "SHA-256", "value": "abc"},
        },
        "prompt_fingerprint.value",
    ),
    (
        {
            "extension_type": "property-extension",
            "prompt_fingerprint": {"algorithm": "SHA-256", "value": SHA256.upper()},
        },
        "prompt_fingerprint.value",
    ),
    (
        {
            "extension_type": "property-extension",
            "prompt_fingerprint": {"algorithm": "MD5", "value": "a" * 32},
        },
        "prompt_fingerprint.algorithm",
    ),
    (
        {"extension_type": "property-extension", "prompt_text": "raw text"},
        "'prompt_fingerprint' is a dependency of 'prompt_text'",
    ),
    ({"extension_type": "property-extension", "disruption": {"actions": []}}, "disruption.actions"),
    (
        {
            "extension_type": "property-extension",
            "disruption": {"actions": ["accounts-terminated"], "disrupted_at": "yesterday"},
        },
        "disruption.disrupted_at",
    ),
    ({"extension_type": "property-extension", "breakout_scale": 7}, "breakout_scale"),
    ({"extension_type": "property-extension", "surprise": 1}, "'surprise' was unexpected"),
    ("not an object", "is not of type 'object'"),
]


@pytest.mark.parametrize(("block", "expected"), BAD)
def test_bad_blocks_are_rejected_with_a_message(block: Any, expected: str) -> None:
    """STIX 2.1 §7.3: a consumer MAY reject content that breaks an extension."""
    errors = validate_extensions(with_block(block))
    assert errors, block
    assert all(e.startswith(f"extensions[{EXTENSION_ID}]") for e in errors)
    assert any(expected in e for e in errors), errors
    assert not certainly_valid(block)


def test_extension_on_a_marking_definition_is_rejected() -> None:
    """STIX 2.1 §7.2: marking definitions carry no LLM-misuse context."""
    obj = with_block({"extension_type": "property-extension"}, "marking-definition")
    assert any("does not apply to marking-definition" in e for e in validate_extensions(obj))


_PROPS = [
    "extension_type",
    "abuse_category",
    "misuse_domain",
    "provider",
    "model_family",
    "interaction_channel",
    "prompt_fingerprint",
    "prompt_text",
    "disruption",
    "breakout_scale",
    "other",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 9),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.sampled_from(
        [
            "property-extension",
            "jailbreak",
            "x-ok",
            "api",
            "openai",
            "cyber-operation",
            "SHA-256",
            "simhash-64",
            "a" * 64,
            "a" * 16,
            "accounts-terminated",
            "2024-02-14T00:00:00Z",
            HUB_IDENTITY_ID,
        ]
    ),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "algorithm",
                    "value",
                    "normalisation",
                    "actions",
                    "accounts_affected",
                    "disrupted_at",
                    "x",
                ]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_PROPS), _VALUES, max_size=5))
def test_fast_path_never_accepts_what_the_schema_rejects(block: dict[str, Any]) -> None:
    """The compiled fast path is sound: 'certainly valid' implies schema-valid."""
    if certainly_valid(block):
        assert extension._validator().is_valid(block)
        assert validate_extensions(with_block(block)) == []


def test_fast_path_accepts_the_generated_feed_and_the_starter_pack() -> None:
    """The fast path is for the common case: every block the generator and the pack
    write is valid, and the fast path must say so without jsonschema's help."""
    objects = [*generate(3000, seed=3), *pack.build_pack()]
    blocks = [
        o["extensions"][EXTENSION_ID] for o in objects if EXTENSION_ID in o.get("extensions", {})
    ]
    assert len(blocks) > 1000
    assert all(extension._validator().is_valid(b) for b in blocks)
    assert [b for b in blocks if not certainly_valid(b)] == []
