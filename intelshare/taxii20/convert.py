"""STIX 2.1 ↔ STIX 2.0 for the TAXII 2.0 face: pure functions on dicts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from intelshare import stix
from intelshare import stixids as ids

# STIX 2.0 CS01 §2.x common properties (marking definitions have fewer, §4.1).
_COMMON = (
    "type",
    "id",
    "created_by_ref",
    "created",
    "external_references",
    "object_marking_refs",
    "granular_markings",
)
_SDO_COMMON = (*_COMMON, "modified", "revoked", "labels")

# STIX 2.0 properties per type (Part 2 §2-§5), checked against stix2's v20 classes in tests.
_TYPE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "attack-pattern": ("name", "description", "kill_chain_phases"),
    "campaign": ("name", "description", "aliases", "first_seen", "last_seen", "objective"),
    "course-of-action": ("name", "description"),
    "identity": ("name", "description", "identity_class", "sectors", "contact_information"),
    "indicator": (
        "name",
        "description",
        "pattern",
        "valid_from",
        "valid_until",
        "kill_chain_phases",
    ),
    "intrusion-set": (
        "name",
        "description",
        "aliases",
        "first_seen",
        "last_seen",
        "goals",
        "resource_level",
        "primary_motivation",
        "secondary_motivations",
    ),
    "malware": ("name", "description", "kill_chain_phases"),
    "observed-data": ("first_observed", "last_observed", "number_observed", "objects"),
    "report": ("name", "description", "published", "object_refs"),
    "threat-actor": (
        "name",
        "description",
        "aliases",
        "roles",
        "goals",
        "sophistication",
        "resource_level",
        "primary_motivation",
        "secondary_motivations",
        "personal_motivations",
    ),
    "tool": ("name", "description", "kill_chain_phases", "tool_version"),
    "vulnerability": ("name", "description"),
    "relationship": ("relationship_type", "description", "source_ref", "target_ref"),
    "sighting": (
        "first_seen",
        "last_seen",
        "count",
        "sighting_of_ref",
        "observed_data_refs",
        "where_sighted_refs",
        "summary",
    ),
}
PROPERTIES = {name: frozenset((*_SDO_COMMON, *extra)) for name, extra in _TYPE_PROPERTIES.items()}
PROPERTIES["marking-definition"] = frozenset((*_COMMON, "definition_type", "definition"))

# Required in STIX 2.0 beyond type/id/created (and modified on SDOs and SROs).
REQUIRED: dict[str, tuple[str, ...]] = {
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "identity": ("name", "identity_class"),
    "indicator": ("pattern", "valid_from", "labels"),
    "intrusion-set": ("name",),
    "malware": ("name", "labels"),
    "observed-data": ("first_observed", "last_observed", "number_observed", "objects"),
    "report": ("name", "published", "object_refs", "labels"),
    "threat-actor": ("name", "labels"),
    "tool": ("name", "labels"),
    "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "marking-definition": ("definition_type", "definition"),
}

# STIX 2.1-only types are never served over 2.0; custom types pass through.
TYPES_21_ONLY = (
    frozenset(
        {
            "grouping",
            "incident",
            "infrastructure",
            "language-content",
            "location",
            "malware-analysis",
            "note",
            "opinion",
            "extension-definition",
        }
    )
    | stix.SCO_TYPES
)

# STIX 2.1 moved 2.0's required ``labels`` vocabulary to ``<type>_types``.
_LABELS_FROM = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "report": "report_types",
    "threat-actor": "threat_actor_types",
    "tool": "tool_types",
}

# TLP 2.0 → STIX 2.0's TLP 1.0 markings; AMBER+STRICT has none, so it is not expressible.
TLP_DOWN = {
    ids.TLP2_CLEAR: ids.TLP1_WHITE,
    ids.TLP2_GREEN: ids.TLP1_GREEN,
    ids.TLP2_AMBER: ids.TLP1_AMBER,
    ids.TLP2_RED: ids.TLP1_RED,
}
_NOT_EXPRESSIBLE_MARKINGS = frozenset({ids.TLP2_AMBER_STRICT})
TLP2_MARKING_IDS = frozenset(ids.TLP2_IDS.values())


class NotExpressible(ValueError):
    """A STIX 2.1 version STIX 2.0 cannot express; the message is the reason."""


@dataclass(slots=True)
class Tally:
    """What down-conversion left out of one response."""

    skipped: Counter[str] = field(default_factory=Counter)  # reason -> objects
    dropped: Counter[str] = field(default_factory=Counter)  # property -> objects

    def headers(self) -> dict[str, str]:
        """Counts for the reader, as response headers (zeros included: the face
        always says whether it left something out)."""
        return {
            "X-Intelshare-Stix20-Skipped": str(sum(self.skipped.values())),
            "X-Intelshare-Stix20-Dropped-Properties": str(sum(self.dropped.values())),
        }

    def summary(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.skipped.items())]
        parts += [f"-{k}={v}" for k, v in sorted(self.dropped.items())]
        return " ".join(parts) or "nothing left out"


def _markings(refs: list[str]) -> list[str]:
    if any(ref in _NOT_EXPRESSIBLE_MARKINGS for ref in refs):
        raise NotExpressible("tlp-amber-strict")
    return list(dict.fromkeys(TLP_DOWN.get(ref, ref) for ref in refs))


def _granular(markings: list[dict[str, Any]], dropped: Counter[str]) -> list[dict[str, Any]]:
    kept = []
    for marking in markings:
        if "marking_ref" not in marking:  # a 2.1 ``lang`` granular marking
            dropped["granular_markings.lang"] += 1
            continue
        ref = _markings([marking["marking_ref"]])[0]
        kept.append({"marking_ref": ref, "selectors": marking["selectors"]})
    return kept


def down(obj: dict[str, Any], tally: Tally) -> dict[str, Any] | None:
    """The STIX 2.0 form of one stored 2.1 object, or ``None`` (counted) when
    STIX 2.0 cannot express it."""
    try:
        return _down(obj, tally.dropped)
    except NotExpressible as exc:
        tally.skipped[str(exc)] += 1
        return None


def _down(obj: dict[str, Any], dropped: Counter[str]) -> dict[str, Any]:
    stix_type = obj["type"]
    if stix_type in TYPES_21_ONLY:
        raise NotExpressible(f"type-{stix_type}")
    if obj["id"] in TLP2_MARKING_IDS or (
        stix_type == "marking-definition" and "definition_type" not in obj
    ):
        raise NotExpressible("marking-definition-2.1")
    if stix_type == "indicator" and obj.get("pattern_type", "stix") != "stix":
        raise NotExpressible("indicator-pattern-type")
    allowed = PROPERTIES.get(stix_type)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "spec_version":
            continue
        if allowed is not None and key not in allowed and not key.startswith("x_"):
            dropped[key] += 1
            continue
        if allowed is None and key == "extensions":  # a custom type's 2.1 extensions
            dropped[key] += 1
            continue
        out[key] = value
    if "object_marking_refs" in out:
        out["object_marking_refs"] = _markings(out["object_marking_refs"])
    if "granular_markings" in out:
        granular = _granular(out["granular_markings"], dropped)
        if granular:
            out["granular_markings"] = granular
        else:
            del out["granular_markings"]
    source = _LABELS_FROM.get(stix_type)
    if source is not None and not out.get("labels"):
        # 2.0 requires labels from an open vocabulary; "unknown" when 2.1 gave none.
        out["labels"] = list(obj.get(source) or ["unknown"])
    if stix_type == "identity" and "identity_class" not in out:
        out["identity_class"] = "unknown"  # identity-class-ov has "unknown" (2.0 §6.4)
    for prop in REQUIRED.get(stix_type, ()):
        if prop not in out:
            raise NotExpressible(f"{stix_type}-without-{prop}")
    return out


def up(obj: Any) -> Any:
    """A POSTed STIX 2.0 object as STIX 2.1 (anything else unchanged: ingest
    judges it). 2.1 requires what 2.0 implied: ``spec_version``, an indicator's
    ``pattern_type`` (2.0 patterns are STIX patterns), and malware's
    ``is_family`` (2.0 malware names families; the 2.0 ``name`` is required)."""
    if not isinstance(obj, dict) or "spec_version" in obj:
        return obj
    obj = {**obj, "spec_version": "2.1"}
    if obj.get("type") == "indicator":
        obj.setdefault("pattern_type", "stix")
    elif obj.get("type") == "malware":
        obj.setdefault("is_family", True)
    return obj
