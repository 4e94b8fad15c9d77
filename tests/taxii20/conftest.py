"""The TAXII 2.0 face's fixtures: a hub collection holding what STIX 2.0 can and
cannot express, and a green partner beside the world's personas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from intelshare import ingest, services, stix
from intelshare import stixids as ids
from intelshare.models import Partner
from tests.conftest import TaxiiClient
from tests.factories import (
    BASE_TIME,
    TLP2_GREEN,
    TLP2_RED,
    World,
    indicator,
    make_user,
    malware,
    stamp,
)

STIX_20 = "application/vnd.oasis.stix+json; version=2.0"
TAXII_20 = "application/vnd.oasis.taxii+json; version=2.0"


def note(n: int, refs: list[str]) -> dict[str, Any]:
    """A STIX 2.1 note: a type STIX 2.0 does not have."""
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": f"note--{uuid.UUID(int=500 + n, version=4)}",
        "created": stamp(BASE_TIME),
        "modified": stamp(BASE_TIME),
        "content": f"SYNTHETIC analyst note {n}",
        "object_refs": refs,
        "object_marking_refs": [TLP2_GREEN],
    }


def identity(n: int) -> dict[str, Any]:
    """A 2.1 identity without identity_class (required in 2.0)."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": f"identity--{uuid.UUID(int=700 + n, version=4)}",
        "created": stamp(BASE_TIME),
        "modified": stamp(BASE_TIME),
        "name": f"SYNTHETIC lab {n}",
        "object_marking_refs": [TLP2_GREEN],
    }


@dataclass
class Seeded:
    """What the hub collection holds, by the ids the tests look at."""

    green: list[str]  # green indicators, oldest first
    red: str
    amber_strict: str
    sigma: str
    note: str
    malware: str
    identity: str
    updated: str  # an indicator with two versions

    @property
    def skipped(self) -> set[str]:
        """Ids the 2.0 face cannot serve (2.1-only type, pattern or marking)."""
        return {self.note, self.sigma, self.amber_strict}


def seed(world: World) -> Seeded:
    green = [indicator(n, markings=[TLP2_GREEN], confidence=80) for n in range(6)]
    red = indicator(20, markings=[TLP2_RED])
    strict = indicator(21, markings=[ids.TLP2_AMBER_STRICT])
    sigma = indicator(22, markings=[TLP2_GREEN], pattern_type="sigma", pattern="title: SYNTHETIC")
    bad = malware(1) | {"object_marking_refs": [TLP2_GREEN]}
    ident = identity(1)
    updated = [
        indicator(30, markings=[TLP2_GREEN]),
        indicator(30, version=5, markings=[TLP2_GREEN]),
    ]
    objects = [
        *green,
        red,
        strict,
        sigma,
        bad,
        ident,
        *updated,
        note(1, [green[0]["id"], red["id"]]),
    ]
    result = ingest.store(collection=world.collection, objects=objects)
    assert result.failed == 0, result.outcomes
    return Seeded(
        [o["id"] for o in green],
        red["id"],
        strict["id"],
        sigma["id"],
        objects[-1]["id"],
        bad["id"],
        ident["id"],
        updated[0]["id"],
    )


@pytest.fixture
def seeded(world: World) -> Seeded:
    return seed(world)


@pytest.fixture
def greenpartner(world: World) -> Any:
    """initech: reads the collection up to TLP:GREEN."""
    partner = Partner.objects.create(name="Initech", slug="initech")
    services.agreement_create(
        partner=partner, name="initech", collections=[world.collection], tlp_ceiling=stix.TLP_GREEN
    )
    persona = make_user("initech-analyst", partner=partner)
    world.personas["initech"] = persona
    return persona


class Taxii20Client(TaxiiClient):
    """A Django test client that speaks TAXII 2.0 as one persona."""

    def __init__(self, authorization: str | None) -> None:
        super().__init__(authorization)
        self.headers["Accept"] = TAXII_20


@pytest.fixture
def taxii20(world: World) -> Any:
    """``taxii20("acme")`` → a TAXII 2.0 client authenticated as that persona."""

    def make(name: str | None) -> Taxii20Client:
        return Taxii20Client(world.personas[name].basic if name else None)

    return make
