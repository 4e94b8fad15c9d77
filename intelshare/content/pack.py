"""Starter pack: the Microsoft/OpenAI report of 14 Feb 2024 on state-affiliated
actors' use of LLMs, as deterministic STIX 2.1 objects."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from intelshare.content.extension import EXTENSION_ID, extension_definition
from intelshare.stixids import (
    HUB_IDENTITY_ID,
    TLP2_CLEAR,
    fixed_id,
    tlp2_marking,
)

CREATED = "2026-06-01T00:00:00.000Z"
PUBLISHED = "2024-02-14T00:00:00.000Z"
MAPPING = "intelshare-mapping"
DATA_FILE = "report-2024-02-14.json"
MS_REF = {
    "source_name": "Microsoft Threat Intelligence",
    "description": "Staying ahead of threat actors in the age of AI (2024-02-14)",
    "url": "https://www.microsoft.com/en-us/security/blog/2024/02/14/"
    "staying-ahead-of-threat-actors-in-the-age-of-ai/",
}
OAI_REF = {
    "source_name": "OpenAI",
    "description": "Disrupting malicious uses of AI by state-affiliated threat actors (2024-02-14)",
    "url": "https://openai.com/blog/"
    "disrupting-malicious-uses-of-ai-by-state-affiliated-threat-actors",
}


@cache
def report_data() -> dict[str, Any]:
    """The report's facts (data/report-2024-02-14.json), read once."""
    path = resources.files("intelshare.content").joinpath("data", DATA_FILE)
    return json.loads(path.read_text(encoding="utf-8"))


def _mapping_ref(entry: dict[str, str]) -> dict[str, str]:
    """An external reference for one of the hub's suggested technique ids."""
    ext_id, name = entry["id"], entry["name"]
    if entry["framework"] == "atlas":
        kind = "mitigations" if ".M" in ext_id else "techniques"
        url, label = f"https://atlas.mitre.org/{kind}/{ext_id}", "MITRE ATLAS"
    else:
        url = "https://attack.mitre.org/techniques/" + ext_id.replace(".", "/")
        label = "MITRE ATT&CK"
    return {
        "source_name": MAPPING,
        "external_id": ext_id,
        "url": url,
        "description": f"intelshare's suggested mapping, not published by MITRE or "
        f"the report's authors: {label} {ext_id} {name}",
    }


def _sdo(stix_type: str, key: str, **props: Any) -> dict[str, Any]:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": fixed_id(stix_type, key),
        "created": CREATED,
        "modified": CREATED,
        "created_by_ref": HUB_IDENTITY_ID,
        **props,
        "object_marking_refs": [TLP2_CLEAR],
    }


def _rel(rtype: str, source: str, target: str, **props: Any) -> dict[str, Any]:
    key = f"{source}|{rtype}|{target}"
    return _sdo(
        "relationship", key, relationship_type=rtype, source_ref=source, target_ref=target, **props
    )


def hub_identity() -> dict[str, Any]:
    """The hub's own identity (STIX 2.1 §4.5), author of the pack."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": HUB_IDENTITY_ID,
        "created": CREATED,
        "modified": CREATED,
        "name": "intelshare hub",
        "description": "The intelshare TAXII 2.1 hub for intelligence on misuse of "
        "large language models; author of its starter content.",
        "identity_class": "system",
        "object_marking_refs": [TLP2_CLEAR],
    }


def _attack_pattern(slug: str, ttp: dict[str, Any]) -> dict[str, Any]:
    refs: list[dict[str, str]] = [MS_REF]
    extra: dict[str, Any] = {}
    if slug == "llm-informed-reconnaissance":
        # MITRE's own link: T1682 cites the report (llm-misuse.md §2).
        refs.append(
            {
                "source_name": "mitre-attack",
                "external_id": "T1682",
                "url": "https://attack.mitre.org/techniques/T1682",
                "description": "Query Public AI Services; cites this report",
            }
        )
        extra["kill_chain_phases"] = [
            {"kill_chain_name": "mitre-attack", "phase_name": "reconnaissance"}
        ]
    return _sdo(
        "attack-pattern",
        slug,
        name=ttp["label"],
        description=ttp["definition"],
        external_references=refs + [_mapping_ref(m) for m in ttp["mapping"]],
        **extra,
        extensions={
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "abuse_category": [slug],
                "misuse_domain": "cyber-operation",
            }
        },
    )


def _intrusion_set(name: str, actor: dict[str, Any]) -> dict[str, Any]:
    refs = [MS_REF, OAI_REF] + [
        {
            "source_name": "mitre-attack",
            "external_id": group["id"],
            "url": f"https://attack.mitre.org/groups/{group['id']}",
            "description": f"ATT&CK group {group['name']}, which Microsoft says "
            f"overlaps with {name}",
        }
        for group in actor["attack_groups"]
    ]
    return _sdo(
        "intrusion-set",
        name,
        name=name,
        description=actor["description"],
        aliases=actor["aliases"],
        resource_level="government",
        external_references=refs,
    )


def build_pack() -> list[dict[str, Any]]:
    """All starter-pack objects, dependencies first; same output on every call."""
    data = report_data()
    ttp = {slug: _attack_pattern(slug, t) for slug, t in data["ttps"].items()}
    actors: dict[str, dict[str, Any]] = data["actors"]
    sets = {name: _intrusion_set(name, actor) for name, actor in actors.items()}
    sponsors = {
        name: _sdo(
            "threat-actor",
            actor["sponsor"]["name"],
            name=actor["sponsor"]["name"],
            description=actor["sponsor"]["description"],
            threat_actor_types=["nation-state"],
            resource_level="government",
            external_references=[MS_REF],
        )
        for name, actor in actors.items()
        if "sponsor" in actor
    }
    principles = data["principles"]
    coas = {
        key: _sdo(
            "course-of-action",
            key,
            name=p["name"],
            description=p["description"],
            external_references=[MS_REF, *map(_mapping_ref, p["mapping"])],
        )
        for key, p in principles.items()
    }
    rels = [
        _rel(
            "attributed-to",
            sets[name]["id"],
            sponsor["id"],
            description=actors[name]["sponsor"]["description"],
            external_references=[MS_REF],
        )
        for name, sponsor in sponsors.items()
    ]
    rels += [
        _rel(
            "uses",
            sets[name]["id"],
            ttp[use["ttp"]]["id"],
            description=use["observed"],
            external_references=[MS_REF],
        )
        for name, actor in actors.items()
        for use in actor["uses"]
    ]
    rels += [
        _rel("mitigates", coas[key]["id"], pattern["id"])
        for key, p in principles.items()
        if p["mitigates"]
        for pattern in ttp.values()
    ]
    content = [*sponsors.values(), *sets.values(), *ttp.values(), *coas.values(), *rels]
    report = _sdo(
        "report",
        "msft-openai-2024-02-14",
        name="Staying ahead of threat actors in the age of AI (Microsoft and "
        "OpenAI, 14 February 2024)",
        description="Microsoft and OpenAI disclosed five state-affiliated actors "
        "(Russia, North Korea, Iran, two from China) using LLMs mostly as a "
        "productivity tool: reconnaissance, scripting, translation and phishing "
        "content. No significant LLM-enabled attacks were observed and the "
        "actors' accounts were terminated. Summarised by intelshare; technique "
        "ids labelled intelshare-mapping are the hub's suggestions.",
        report_types=["threat-report", "threat-actor", "attack-pattern"],
        published=PUBLISHED,
        object_refs=[obj["id"] for obj in content],
        external_references=[MS_REF, OAI_REF],
    )
    objects = [tlp2_marking("clear"), hub_identity(), extension_definition(), *content, report]
    # Fresh dicts on every call: the objects share constants (MS_REF, the cached
    # data), and a caller that mutates one must not change the next build.
    return json.loads(json.dumps(objects))


def load_pack(*, collection: Any) -> Any:
    """Store the pack in ``collection`` through ``ingest.store`` as the hub's own;
    idempotent.
    """
    from intelshare import ingest  # Django app code: imported only when storing

    return ingest.store(
        collection=collection, objects=build_pack(), source_partner=None, origin="pack"
    )
