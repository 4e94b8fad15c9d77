"""STIX 2.1 patterns (§9) checked by the OASIS validator (stix2-patterns) on ingest.

An indicator whose ``pattern_type`` is ``stix`` must carry a pattern the validator
accepts; the failure message is the validator's. Other pattern languages are not
parsed. The regex fast path in ``stix.pattern_problem`` must never accept what the
validator rejects, and should cover what the hub itself writes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from intelshare import ingest, stix
from intelshare.content import pack
from intelshare.content.generator import generate
from intelshare.models import ObjectVersion
from tests.factories import World, indicator
from tests.support.medallion import make_indicators

# pattern, a part of the validator's message
INVALID = [
    ("not a pattern", "input is missing square brackets"),
    ("[url:value = 'x'", "missing ']'"),
    ("[url:value == ]", "mismatched input ']'"),
    ("[file:hashes.'SHA-256' = 'abc']", "'abc' is not a valid SHA-256 hash"),
    ("[file:size = 5] WITHIN 5 SECONDS WITHIN 6 SECONDS", "Duplicate qualifier type"),
    ("[url:value = 'x'] AND", "mismatched input '<EOF>'"),
    ("[x-llm-prompt:prompt_excerpt MATCHES '\\s']", "expecting StringLiteral"),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID, ids=[p for p, _ in INVALID])
def test_invalid_patterns_fail_with_the_validators_message(pattern: str, message: str) -> None:
    expected = "; ".join(run_validator(pattern, stix_version="2.1"))
    assert message in expected
    assert stix.pattern_problem(pattern) == expected
    with pytest.raises(stix.InvalidStix) as raised:
        stix.inspect(indicator(1, pattern=pattern))
    assert str(raised.value) == f"pattern: {expected}"


def test_empty_and_too_deep_patterns_are_failures_not_crashes() -> None:
    """The validator itself raises on "" and recurses once per nesting level."""
    assert stix.pattern_problem("") == "the pattern is empty"
    assert stix.pattern_problem("  ") == "the pattern is empty"
    deep = "(" * 5000 + "[url:value = 'x']" + ")" * 5000
    assert "too deeply" in stix.pattern_problem(deep)
    with pytest.raises(stix.InvalidStix, match="pattern must be a string"):
        stix.inspect(indicator(1, pattern=["[url:value = 'x']"]))


VALID = [
    "[x-llm-prompt:prompt_excerpt MATCHES '(?i)ignore\\\\s+previous']",
    "[x-llm-prompt:model_family = 'gpt' AND x-llm-prompt:'prompt-text' LIKE '%ignore%']",
    "[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24'] FOLLOWEDBY [x-custom-thing:a[*].b = 1]",
    "([domain-name:value = 'a.example'] OR [url:value = 'https://b.example/']) WITHIN 60 SECONDS",
    "[network-traffic:dst_port IN (80, 443)] START t'2024-01-01T00:00:00Z' "
    "STOP t'2024-01-02T00:00:00Z'",
]


@pytest.mark.parametrize("pattern", VALID)
def test_valid_patterns_including_custom_object_types_pass(pattern: str) -> None:
    """stix2-patterns checks syntax, so custom (x-) object types and paths are accepted."""
    assert run_validator(pattern, stix_version="2.1") == []
    assert stix.pattern_problem(pattern) == ""
    stix.inspect(indicator(1, pattern=pattern))


@pytest.mark.parametrize(
    "pattern_type", ["sigma", "yara", "snort", "suricata", "pcre", "spl", "x-vendor"]
)
def test_other_pattern_languages_are_not_parsed_as_stix(pattern_type: str) -> None:
    stix.inspect(indicator(1, pattern="not a pattern", pattern_type=pattern_type))


def test_patterns_the_hub_writes_are_valid_and_take_the_fast_path() -> None:
    """The generator, the starter pack and the test factories write valid patterns, and
    (hash-free as they are) the regex accepts each without the parser."""
    objects = [
        *generate(3000, seed=3),
        *pack.build_pack(),
        indicator(1),
        *make_indicators(3, label="x"),
    ]
    patterns = {
        o["pattern"] for o in objects if o["type"] == "indicator" and o["pattern_type"] == "stix"
    }
    assert len(patterns) > 200
    assert [p for p in patterns if run_validator(p, stix_version="2.1")] == []
    assert [p for p in patterns if not stix._SIMPLE_PATTERN.fullmatch(p)] == []


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda name: not name.startswith("hashes")
)
_paths = st.builds(
    lambda kind, first, rest: f"{kind}:{first}" + "".join(f".{n}" for n in rest),
    st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6}){0,3}", fullmatch=True),
    _names,
    st.lists(_names, max_size=3),
)
_strings = st.lists(
    st.characters(exclude_characters="'\\") | st.sampled_from(["\\'", "\\\\"]), max_size=12
).map(lambda parts: "'" + "".join(parts) + "'")
_tests = st.builds(
    lambda path, op, value: path + op + value,
    _paths,
    st.sampled_from(["=", " = ", "  !=", "!= ", " MATCHES ", " LIKE  "]),
    _strings,
)
_simple = st.builds(
    lambda first, rest, tail: "[ " + first + "".join(f" {j}  {t}" for j, t in rest) + "]" + tail,
    _tests,
    st.lists(st.tuples(st.sampled_from(["AND", "OR"]), _tests), max_size=3),
    st.sampled_from(
        ["", " REPEATS 5 TIMES", " WITHIN 300 SECONDS", " REPEATS 12 TIMES WITHIN 1 SECONDS"]
    ),
)


@settings(max_examples=100, deadline=None)
@given(_simple)
def test_fast_path_never_accepts_what_the_validator_rejects(pattern: str) -> None:
    """Soundness of the regex: the shapes it accepts, with any characters in the strings,
    are valid for the OASIS validator."""
    assert stix._SIMPLE_PATTERN.fullmatch(pattern)
    assert run_validator(pattern, stix_version="2.1") == []


@settings(max_examples=15, deadline=None)
@given(st.from_regex(stix._SIMPLE_PATTERN, fullmatch=True).filter(lambda p: len(p) < 400))
def test_anything_the_fast_path_regex_matches_is_valid(pattern: str) -> None:
    assert run_validator(pattern, stix_version="2.1") == []


def test_ingest_fails_the_object_with_the_validators_message(world: World) -> None:
    """§5.5: an invalid pattern is a per-object failure; its neighbours are stored."""
    bad = indicator(2, pattern="not a pattern")
    sigma = indicator(3, pattern="title: not STIX", pattern_type="sigma")
    result = ingest.store(collection=world.collection, objects=[indicator(1), bad, sigma])
    assert [o.ok for o in result.outcomes] == [True, False, True]
    expected = "; ".join(run_validator("not a pattern", stix_version="2.1"))
    assert result.outcomes[1].message == f"pattern: {expected}"
    assert result.outcomes[1].id == bad["id"]
    assert not ObjectVersion.objects.filter(stix_id=bad["id"]).exists()
    assert ObjectVersion.objects.filter(collection=world.collection).count() == 2
