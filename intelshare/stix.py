"""Pure helpers on STIX 2.1 dicts: timestamps, TLP levels, the fast structural check."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from intelshare import stixids as ids

# --- TLP ---------------------------------------------------------------------

TLP_CLEAR, TLP_GREEN, TLP_AMBER, TLP_AMBER_STRICT, TLP_RED = range(5)
TLP_NAMES = {
    TLP_CLEAR: "clear",
    TLP_GREEN: "green",
    TLP_AMBER: "amber",
    TLP_AMBER_STRICT: "amber+strict",
    TLP_RED: "red",
}
TLP_BY_NAME = {name: rank for rank, name in TLP_NAMES.items()}

# Exact ids only. TLP 1.0 (STIX 2.1 §7.2.1.4) maps onto TLP 2.0: WHITE → CLEAR, AMBER → AMBER.
TLP2_EXTENSION_ID = ids.TLP2_EXTENSION_ID
TLP_MARKINGS: dict[str, int] = {
    ids.TLP2_CLEAR: TLP_CLEAR,
    ids.TLP2_GREEN: TLP_GREEN,
    ids.TLP2_AMBER: TLP_AMBER,
    ids.TLP2_AMBER_STRICT: TLP_AMBER_STRICT,
    ids.TLP2_RED: TLP_RED,
    ids.TLP1_WHITE: TLP_CLEAR,
    ids.TLP1_GREEN: TLP_GREEN,
    ids.TLP1_AMBER: TLP_AMBER,
    ids.TLP1_RED: TLP_RED,
}


def tlp_rank(marking_refs: list[str] | None) -> int | None:
    """The most restrictive TLP level among ``object_marking_refs``; ``None`` if none."""
    ranks = [TLP_MARKINGS[ref] for ref in marking_refs or () if ref in TLP_MARKINGS]
    return max(ranks) if ranks else None


# --- timestamps -----------------------------------------------------------------

# STIX 2.1 §3.2, ASCII digits only; always ``fullmatch`` (``$`` admits a final newline).
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 UTC timestamp (STIX 2.1 §3.2, TAXII 2.1 §2)."""
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, not {type(value).__name__}")
    if _TIMESTAMP.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.s]Z")
    try:
        # Form checked above; the C parser reads it at a fifth of the cost.
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date and time: {exc}") from None


def _utc_text(value: datetime, timespec: str) -> str:
    """``value`` in UTC as RFC 3339 text with ``Z`` (naive values are taken as UTC)."""
    offset = value.utcoffset()
    if offset:
        value = value.astimezone(UTC)
    text = value.isoformat(timespec=timespec)  # C, and always a 4-digit year
    return (text if offset is None else text[:-6]) + "Z"


def format_timestamp(value: datetime) -> str:
    """TAXII 2.1 timestamp: always six fractional digits and ``Z`` (§2)."""
    return _utc_text(value, "microseconds")


def format_version(value: datetime) -> str:
    """A STIX version (``modified``) as text: milliseconds when exact, else micro."""
    return _utc_text(value, "milliseconds" if value.microsecond % 1000 == 0 else "microseconds")


# --- structural check -------------------------------------------------------------

SCO_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
# Required properties beyond the common ones (STIX 2.1 §4-§7).
REQUIRED: dict[str, tuple[str, ...]] = {
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "grouping": ("context", "object_refs"),
    "identity": ("name",),
    "incident": ("name",),
    "indicator": ("pattern", "pattern_type", "valid_from"),
    "infrastructure": ("name",),
    "intrusion-set": ("name",),
    "malware": ("is_family",),
    "malware-analysis": ("product",),
    "note": ("content", "object_refs"),
    "observed-data": ("first_observed", "last_observed", "number_observed"),
    "opinion": ("opinion", "object_refs"),
    "report": ("name", "published", "object_refs"),
    "threat-actor": ("name",),
    "tool": ("name",),
    "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "extension-definition": ("name", "schema", "version", "extension_types", "created_by_ref"),
    "language-content": ("object_ref", "contents"),
    "domain-name": ("value",),
    "url": ("value",),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "email-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "software": ("name",),
    "windows-registry-key": (),
}
TIMESTAMP_PROPERTIES = (
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "published",
    "first_observed",
    "last_observed",
    "start_time",
    "stop_time",
)
TYPE_NAME = r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,248}[a-z0-9]"
TYPE = re.compile(rf"^{TYPE_NAME}$")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# STIX 2.1 §2.7 types, §2.9 identifiers; always ``fullmatch``.
IDENTIFIER = re.compile(rf"^[a-z0-9][a-z0-9-]{{1,248}}[a-z0-9]--{_UUID}$")


class InvalidStix(ValueError):
    """An object that is not valid STIX 2.1; the message says why."""


# --- indicator patterns (STIX 2.1 §9) ----------------------------------------------

# The common pattern shape (one observation, property paths against strings), valid
# syntax whenever it matches (tests/intelshare/test_patterns.py): a regex instead of
# ~1 ms of ANTLR. "hashes" paths are left to the validator.
_P_TYPE = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_P_NAME = r"(?!hashes\b)[a-z_][a-z0-9_]*"
_P_PATH = rf"{_P_TYPE}:{_P_NAME}(?:\.{_P_NAME})*"
_P_STRING = r"'[^'\\]*(?:\\['\\][^'\\]*)*'"  # \' and \\ are its only escapes
_P_TEST = rf"{_P_PATH}(?: *!?= *| +(?:MATCHES|LIKE) +){_P_STRING}"
_SIMPLE_PATTERN = re.compile(
    rf"\[ *{_P_TEST}(?: +(?:AND|OR) +{_P_TEST})* *\]"
    r"(?: REPEATS [1-9][0-9]{0,8} TIMES)?(?: WITHIN [1-9][0-9]{0,8} SECONDS)?"
)


def pattern_problem(pattern: str) -> str:
    """The OASIS validator's messages about a STIX 2.1 pattern; "" when it is valid."""
    if _SIMPLE_PATTERN.fullmatch(pattern):
        return ""
    if not pattern.strip():
        return "the pattern is empty"  # the validator itself fails on ""
    if len(pattern) > _CACHED_LENGTH:
        return _validated.__wrapped__(pattern)
    return _validated(pattern)


# New versions usually keep their pattern: short parses are remembered.
_CACHED_LENGTH = 2000


@functools.lru_cache(maxsize=2048)
def _validated(pattern: str) -> str:
    # Imported on first use: ANTLR and the grammar cost every process ~0.3 s at start.
    from stix2patterns.validator import run_validator

    try:
        return "; ".join(run_validator(pattern, stix_version="2.1"))
    except RecursionError:  # the parser recurses once per nested or chained expression
        return "the pattern nests or chains too deeply to parse"


@dataclass(frozen=True, slots=True)
class Facts:
    """What storage and policy need to know about one inbound object version."""

    stix_id: str
    type: str
    spec_version: str
    version: datetime | None  # modified, else created; None for unversioned SCOs
    version_text: str  # ``version`` as ``format_version`` writes it; "" when None
    tlp_rank: int | None
    marking_refs: tuple[str, ...]
    has_granular: bool
    granular_rank: int | None  # highest TLP among granular markings
    granular_required_rank: int | None  # ... among those marking a required property
    refs: tuple[tuple[str, str], ...]  # (stix id, "endpoint" | "member")
    revoked: bool
    label: str = ""  # what the console's search matches: see search_label()


COMMON_REQUIRED = ("type", "id", "spec_version", "created", "modified")
ENDPOINT_REFS = {
    "relationship": ("source_ref", "target_ref"),
    "sighting": ("sighting_of_ref", "observed_data_refs", "where_sighted_refs"),
}
MEMBER_TYPES = frozenset({"report", "grouping", "note", "opinion"})


def selector_property(selector: str) -> str:
    """The top-level property a granular-marking selector points into."""
    return selector.split(".", 1)[0].split("[", 1)[0]


def _granular_ranks(
    stix_type: str, granular: list[dict[str, Any]]
) -> tuple[int | None, int | None]:
    if not granular:
        return None, None
    required = set(COMMON_REQUIRED) | set(REQUIRED.get(stix_type, ()))
    ranks: list[int] = []
    required_ranks: list[int] = []
    for marking in granular:
        rank = TLP_MARKINGS.get(marking.get("marking_ref", ""))
        if rank is None:
            continue
        ranks.append(rank)
        if any(selector_property(str(sel)) in required for sel in marking["selectors"]):
            required_ranks.append(rank)
    return max(ranks, default=None), max(required_ranks, default=None)


def references(obj: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The references the sharing policy follows (DESIGN.md "references")."""
    stix_type = obj["type"]
    found: list[tuple[str, str]] = []
    for prop in ENDPOINT_REFS.get(stix_type, ()):
        value = obj.get(prop)
        for ref in value if isinstance(value, list) else [value] if value else []:
            found.append((ref, "endpoint"))
    if stix_type in MEMBER_TYPES:
        found.extend((ref, "member") for ref in obj.get("object_refs", ()))
    return tuple(dict.fromkeys(found))


def _version_text(text: str, parsed: datetime) -> str:
    """``format_version(parsed)``, without formatting when ``text`` (a checked
    timestamp) is already written that way: three fraction digits, or six that
    do not end in 000."""
    if len(text) == 24 or (len(text) == 27 and not text.endswith("000Z")):
        return text
    return format_version(parsed)


def _check_ref(name: str, value: Any) -> None:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise InvalidStix(f"{name} must be a STIX identifier, got {value!r}")


def inspect(obj: Any) -> Facts:
    """Check the structure of one STIX 2.1 object and extract its facts."""
    if not isinstance(obj, dict):
        raise InvalidStix("object must be a JSON object")
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not TYPE.fullmatch(stix_type):
        raise InvalidStix(f"type must be 3-250 characters of a-z, 0-9 and '-', got {stix_type!r}")
    stix_id = obj.get("id")
    if not isinstance(stix_id, str) or not IDENTIFIER.fullmatch(stix_id):
        raise InvalidStix(f"id must be '<type>--<UUID>', got {stix_id!r}")
    if stix_id.partition("--")[0] != stix_type:
        raise InvalidStix(f"id {stix_id!r} does not start with its type {stix_type!r}")
    is_sco = stix_type in SCO_TYPES
    spec_version = obj.get("spec_version", "2.1" if is_sco else None)
    if spec_version != "2.1":
        raise InvalidStix(f"spec_version must be '2.1', got {spec_version!r}")
    stamps: dict[str, datetime] = {}
    for prop in TIMESTAMP_PROPERTIES:
        if prop in obj:
            try:
                stamps[prop] = parse_timestamp(obj[prop])
            except ValueError as exc:
                raise InvalidStix(f"{prop}: {exc}") from None
    if not is_sco:
        needed = ("created",) if stix_type == "marking-definition" else ("created", "modified")
        for prop in needed:
            if prop not in obj:
                raise InvalidStix(f"{stix_type} requires the property {prop!r}")
    for prop in REQUIRED.get(stix_type, ()):
        if prop not in obj:
            raise InvalidStix(f"{stix_type} requires the property {prop!r}")
    if "modified" in stamps and "created" in stamps and stamps["modified"] < stamps["created"]:
        raise InvalidStix("modified must not be earlier than created")
    if stix_type == "indicator" and obj["pattern_type"] == "stix":
        # Other pattern languages (sigma, yara, snort, pcre, ...) are opaque here.
        if not isinstance(obj["pattern"], str):
            raise InvalidStix("pattern must be a string")
        problem = pattern_problem(obj["pattern"])
        if problem:
            raise InvalidStix(f"pattern: {problem}")
    for key, value in obj.items():
        if key.endswith("_ref"):
            _check_ref(key, value)
        elif key.endswith("_refs"):
            if not isinstance(value, list) or not value:
                raise InvalidStix(f"{key} must be a non-empty list of identifiers")
            for item in value:
                _check_ref(key, item)
    marking_refs = obj.get("object_marking_refs") or []
    granular = obj.get("granular_markings")
    if granular is not None and (
        not isinstance(granular, list)
        or not granular
        or not all(isinstance(g, dict) and g.get("selectors") for g in granular)
    ):
        raise InvalidStix("granular_markings must be a non-empty list of markings with selectors")
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        raise InvalidStix("revoked must be a boolean")
    granular_rank, granular_required_rank = _granular_ranks(stix_type, granular or [])
    version_prop = "modified" if "modified" in stamps else "created"
    version = stamps.get(version_prop)
    return Facts(
        stix_id=stix_id,
        type=stix_type,
        spec_version=spec_version,
        version=version,
        version_text="" if version is None else _version_text(obj[version_prop], version),
        tlp_rank=tlp_rank(marking_refs),
        marking_refs=tuple(marking_refs),
        has_granular=bool(granular),
        granular_rank=granular_rank,
        granular_required_rank=granular_required_rank,
        refs=references(obj),
        revoked=revoked,
        label=search_label(obj),
    )


def object_name(obj: dict[str, Any]) -> str:
    """A readable name of a STIX object: its name, else its value or title."""
    for key in ("name", "value", "title", "abstract", "relationship_type", "pattern"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def external_ids(obj: dict[str, Any]) -> tuple[str, ...]:
    """The ``external_id`` of each external reference (ATLAS, ATT&CK, CVE ids…)."""
    refs = obj.get("external_references")
    if not isinstance(refs, list):
        return ()
    return tuple(
        r["external_id"]
        for r in refs
        if isinstance(r, dict) and isinstance(r.get("external_id"), str)
    )


LABEL_MAX = 1000


def search_label(obj: dict[str, Any]) -> str:
    """Name, aliases and external ids, lower-cased, one per line (indexed for search)."""
    parts = [object_name(obj)]
    for key in ("aliases", "x_mitre_aliases"):
        value = obj.get(key)
        if isinstance(value, list):
            parts += [a for a in value if isinstance(a, str)]
    parts += external_ids(obj)
    return "\n".join(p for p in parts if p).lower()[:LABEL_MAX]
