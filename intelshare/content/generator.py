"""Synthetic LLM-misuse STIX 2.1 feeds for tests, demos and load runs."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from intelshare.content.extension import EXTENSION_ID, extension_definition
from intelshare.content.pack import hub_identity
from intelshare.content.vocabulary import (
    CHANNELS,
    COLOURS,
    DOMAINS,
    MALWARE_TYPES,
    MODELS,
    PROVIDERS,
    TTPS,
    WEATHER,
    draw_pattern,
)
from intelshare.stixids import (
    HUB_IDENTITY_ID,
    TLP1_IDS,
    TLP2_IDS,
    all_tlp_markings,
    fixed_id,
)

DEFAULT_PARTNERS: tuple[str, ...] = ("acme", "globex", "initech")
BASE = datetime(2026, 1, 1, tzinfo=UTC)
Item = tuple[dict[str, Any], str | None]

# (marking ids or None for unmarked, weight)
_TLP_MIX: list[tuple[str | None, int]] = [
    (TLP2_IDS["clear"], 20),
    (TLP2_IDS["green"], 30),
    (TLP2_IDS["amber"], 18),
    (TLP2_IDS["amber+strict"], 5),
    (TLP2_IDS["red"], 5),
    (TLP1_IDS["white"], 3),
    (TLP1_IDS["green"], 4),
    (TLP1_IDS["amber"], 4),
    (TLP1_IDS["red"], 2),
    (None, 9),
]
_INDICATES = ("attack-pattern", "campaign", "intrusion-set", "malware")


class _Feed:
    """One deterministic stream; every draw goes through ``self.rng``."""

    def __init__(self, seed: int, partners: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.partners = list(partners)
        self.clock_ms = 0
        self.identity = {p: fixed_id("identity", f"partner:{p}") for p in self.partners}
        self.pools: dict[str, list[str]] = {t: [] for t in (*_INDICATES, "indicator")}
        self.latest: list[Item] = []  # versionable objects, newest version each
        self.serial = 0

    # --- primitives -------------------------------------------------------------

    def sid(self, stix_type: str) -> str:
        return f"{stix_type}--{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def tick(self) -> str:
        self.clock_ms += self.rng.randint(1, 90_000)
        return self.stamp(self.clock_ms)

    @staticmethod
    def stamp(ms: int) -> str:
        moment = BASE + timedelta(milliseconds=ms)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

    def contributor(self) -> str | None:
        if not self.partners or self.rng.random() < 0.15:
            return None
        return self.rng.choice(self.partners)

    def sdo(self, stix_type: str, source: str | None, **props: Any) -> dict[str, Any]:
        now = self.tick()
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": self.sid(stix_type),
            "created": now,
            "modified": now,
            "created_by_ref": self.identity[source] if source else HUB_IDENTITY_ID,
            **props,
        }
        (marking,) = self.rng.choices([m for m, _ in _TLP_MIX], weights=[w for _, w in _TLP_MIX])
        if marking is not None:
            obj["object_marking_refs"] = [marking]
        return obj

    def ext(self, **props: Any) -> dict[str, Any]:
        block = {"extension_type": "property-extension", **props}
        return {EXTENSION_ID: block}

    def keep(self, obj: dict[str, Any], source: str | None) -> Item:
        if obj["type"] in self.pools:
            self.pools[obj["type"]].append(obj["id"])
            self.latest.append((obj, source))
            if len(self.latest) > 400:  # bound memory; old objects stop changing
                self.latest.pop(self.rng.randrange(200))
        return obj, source

    def pick(self, *types: str) -> str | None:
        candidates = [t for t in types if self.pools[t]]
        if not candidates:
            return None
        pool = self.pools[self.rng.choice(candidates)]
        return pool[-1 - min(int(self.rng.expovariate(0.02)), len(pool) - 1)]

    def rel(self, rtype: str, src: str, dst: str, source: str | None) -> Item:
        return self.sdo(
            "relationship", source, relationship_type=rtype, source_ref=src, target_ref=dst
        ), source

    # --- content --------------------------------------------------------------

    def preamble(self) -> Iterator[Item]:
        for marking in all_tlp_markings():
            yield marking, None
        yield hub_identity(), None
        for name, identity_id in self.identity.items():
            yield (
                {
                    "type": "identity",
                    "spec_version": "2.1",
                    "id": identity_id,
                    "created": self.stamp(0),
                    "modified": self.stamp(0),
                    "name": f"SYNTHETIC partner {name}",
                    "identity_class": "organization",
                    "object_marking_refs": [TLP2_IDS["clear"]],
                },
                None,
            )
        yield extension_definition(), None
        for slug, label in TTPS:
            yield self.keep(
                self.sdo(
                    "attack-pattern",
                    None,
                    name=f"SYNTHETIC: {label}",
                    description=f"Synthetic test technique for the {slug} category.",
                    extensions=self.ext(abuse_category=[slug]),
                ),
                None,
            )

    def pattern(self) -> tuple[str, str, dict[str, Any]]:
        return draw_pattern(self.rng)

    def indicator(self, source: str | None) -> dict[str, Any]:
        rng = self.rng
        kind, pattern, props = self.pattern()
        props |= {
            "misuse_domain": rng.choice(DOMAINS),
            "provider": rng.choice(PROVIDERS),
            "model_family": rng.choice(MODELS),
            "interaction_channel": rng.choice(CHANNELS),
        }
        obj = self.sdo(
            "indicator",
            source,
            name=f"SYNTHETIC {kind} indicator",
            description="Synthetic test indicator; not intelligence.",
            indicator_types=[
                rng.choice(("malicious-activity", "anomalous-activity", "attribution"))
            ],
            pattern_type=kind,
            pattern=pattern,
            confidence=rng.randrange(10, 100, 5),
            extensions=self.ext(**props),
        )
        if kind == "stix":
            obj["pattern_version"] = "2.1"
        obj["valid_from"] = obj["created"]
        if rng.random() < 0.5:
            days = rng.randint(30, 180)
            obj["valid_until"] = self.stamp(self.clock_ms + days * 86_400_000)
        if "prompt_text" in props or rng.random() < 0.08:
            selectors = ["description"]
            if "prompt_text" in props:
                selectors.append(f"extensions.{EXTENSION_ID}.prompt_text")
            obj["granular_markings"] = [
                {
                    "marking_ref": rng.choice((TLP2_IDS["red"], TLP2_IDS["amber+strict"])),
                    "selectors": selectors,
                }
            ]
        return obj

    def ep_campaign(self, source: str | None) -> Iterator[Item]:
        rng = self.rng
        self.serial += 1
        name = f"SYNTHETIC-{rng.choice(COLOURS)}-{rng.choice(WEATHER)}-{self.serial}"
        domain = rng.choice(DOMAINS)
        iset = self.sdo(
            "intrusion-set",
            source,
            name=name,
            aliases=[f"TEST-{self.serial}"],
            extensions=self.ext(misuse_domain=domain),
        )
        yield self.keep(iset, source)
        ext: dict[str, Any] = {
            "misuse_domain": domain,
            "provider": rng.choice(PROVIDERS),
            "abuse_category": [rng.choice(TTPS)[0]],
        }
        if rng.random() < 0.5:
            ext["disruption"] = {
                "actions": ["accounts-terminated"],
                "accounts_affected": rng.randint(1, 40),
            }
        camp = self.sdo(
            "campaign",
            source,
            name=f"{name} wave",
            first_seen=self.stamp(max(0, self.clock_ms - 86_400_000)),
            extensions=self.ext(**ext),
        )
        yield self.keep(camp, source)
        yield self.rel("attributed-to", camp["id"], iset["id"], source)
        techniques = {self.pick("attack-pattern") for _ in range(rng.randint(1, 2))}
        for ap in sorted(t for t in techniques if t):
            yield self.rel("uses", iset["id"], ap, source)
        for _ in range(rng.randint(2, 4)):
            ind = self.indicator(source)
            yield self.keep(ind, source)
            target = rng.choice((iset, camp))["id"]
            yield self.rel("indicates", ind["id"], target, source)

    def ep_indicators(self, source: str | None) -> Iterator[Item]:
        for _ in range(self.rng.randint(1, 4)):
            ind = self.indicator(source)
            yield self.keep(ind, source)
            target = self.pick(*_INDICATES)
            if target:
                yield self.rel("indicates", ind["id"], target, source)

    def ep_sightings(self, source: str | None) -> Iterator[Item]:
        where = self.identity[source] if source else HUB_IDENTITY_ID
        for _ in range(self.rng.randint(1, 3)):
            ind = self.pick("indicator")
            if ind is None:
                return
            hours = self.rng.randint(1, 72)
            first = self.stamp(max(0, self.clock_ms - hours * 3_600_000))
            obj = self.sdo(
                "sighting",
                source,
                sighting_of_ref=ind,
                count=self.rng.randint(1, 5000),
                first_seen=first,
                where_sighted_refs=[where],
            )
            obj["last_seen"] = obj["created"]
            if self.rng.random() < 0.5:
                obj["extensions"] = self.ext(
                    interaction_channel=self.rng.choice(CHANNELS),
                    provider=self.rng.choice(PROVIDERS),
                )
            yield obj, source

    def ep_malware(self, source: str | None) -> Iterator[Item]:
        self.serial += 1
        mal = self.sdo(
            "malware",
            source,
            name=f"SYNTHETIC-LLMCALLER-{self.serial}",
            is_family=True,
            malware_types=[self.rng.choice(MALWARE_TYPES)],
            description="Synthetic malware that asks a hosted model for commands at run time.",
            extensions=self.ext(
                misuse_domain="cyber-operation",
                abuse_category=["ai-enabled-malware"],
                provider=self.rng.choice(PROVIDERS),
            ),
        )
        yield self.keep(mal, source)
        ap = self.pick("attack-pattern")
        if ap:
            yield self.rel("uses", mal["id"], ap, source)

    def ep_report(self, source: str | None) -> Iterator[Item]:
        picks = self.rng.randint(2, 6)
        refs = {self.pick(*_INDICATES, "indicator") for _ in range(picks)}
        refs.discard(None)
        if refs:
            yield (
                self.sdo(
                    "report",
                    source,
                    name="SYNTHETIC LLM misuse summary",
                    report_types=["threat-report"],
                    published=self.stamp(self.clock_ms),
                    object_refs=sorted(refs),
                ),
                source,
            )

    def ep_version(self, _source: str | None) -> Iterator[Item]:
        """A later version of an earlier object, by its own contributor."""
        if not self.latest:
            return
        index = self.rng.randrange(len(self.latest))
        old, source = self.latest[index]
        new = {**old, "modified": self.tick()}
        roll = self.rng.random()
        if roll < 0.06:
            new["revoked"] = True
            self.latest.pop(index)
        else:
            self.latest[index] = (new, source)
            if roll < 0.3:
                (marking,) = self.rng.choices(
                    [m for m, _ in _TLP_MIX], weights=[w for _, w in _TLP_MIX]
                )
                new.pop("object_marking_refs", None)
                if marking:
                    new["object_marking_refs"] = [marking]
            else:
                base = old.get("description", "Synthetic object.").split(" Revised ")[0]
                new["description"] = f"{base} Revised {new['modified'][:10]}."
        yield new, source

    def stream(self) -> Iterator[Item]:
        yield from self.preamble()
        episodes: list[tuple[Callable[[str | None], Iterator[Item]], int]] = [
            (self.ep_campaign, 12),
            (self.ep_indicators, 30),
            (self.ep_sightings, 20),
            (self.ep_version, 25),
            (self.ep_malware, 5),
            (self.ep_report, 8),
        ]
        funcs, weights = zip(*episodes, strict=True)
        while True:
            (episode,) = self.rng.choices(funcs, weights=weights)
            yield from episode(self.contributor())


def generate_with_sources(
    count: int, seed: int, partners: Sequence[str] = DEFAULT_PARTNERS
) -> Iterator[Item]:
    """``count`` objects with the partner that contributed each (``None`` = hub)."""
    if count < 0:
        raise ValueError("count must not be negative")
    if len(set(partners)) != len(partners):
        raise ValueError("partner names must be unique")
    return islice(_Feed(seed, partners).stream(), count)


def generate(
    count: int, seed: int, *, partners: Sequence[str] = DEFAULT_PARTNERS
) -> Iterator[dict[str, Any]]:
    """``count`` synthetic STIX 2.1 objects, deterministic in ``seed``."""
    return (obj for obj, _ in generate_with_sources(count, seed, partners))
