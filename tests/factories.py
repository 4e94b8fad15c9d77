"""Test data: personas (STYLE.md §9) and synthetic STIX objects."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from intelshare import services, stix
from intelshare.models import ApiRoot, ApiToken, Collection, Partner, User

PASSWORD = "correct-horse-battery"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
BASE_TIME = datetime(2024, 2, 14, 12, 0, tzinfo=UTC)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def indicator(
    n: int = 0,
    *,
    version: int = 0,
    stix_id: str | None = None,
    markings: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A synthetic prompt-injection indicator; ``version`` bumps ``modified``."""
    created = BASE_TIME + timedelta(minutes=n)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or f"indicator--{uuid.UUID(int=n + 1, version=4)}",
        "created": stamp(created),
        "modified": stamp(created + timedelta(seconds=version)),
        "name": f"SYNTHETIC prompt-injection signature {n}",
        "pattern": "[x-llm-prompt:prompt_excerpt MATCHES '(?i)ignore\\\\s+previous']",
        "pattern_type": "stix",
        "valid_from": stamp(created),
    }
    if markings:
        obj["object_marking_refs"] = markings
    obj.update(extra)
    return obj


def malware(n: int = 0) -> dict[str, Any]:
    created = BASE_TIME + timedelta(minutes=n)
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.UUID(int=10_000 + n, version=4)}",
        "created": stamp(created),
        "modified": stamp(created),
        "name": f"SYNTHETIC LLM-calling dropper {n}",
        "is_family": False,
        "malware_types": ["dropper"],
    }


@dataclass
class Persona:
    name: str
    user: User
    token: str

    @property
    def basic(self) -> str:
        raw = f"{self.user.username}:{PASSWORD}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def bearer(self) -> str:
        return f"Bearer {self.token}"


def make_user(username: str, *, partner: Partner | None = None, is_staff: bool = False) -> Persona:
    user = User.objects.create_user(username, password=PASSWORD, partner=partner, is_staff=is_staff)
    _, token = ApiToken.issue(user=user, name="test")
    return Persona(username, user, token)


@dataclass
class World:
    api_root: ApiRoot
    collection: Collection
    other: Collection
    personas: dict[str, Persona]


def make_world() -> World:
    """acme reads and writes; globex reads; mallory has no grant; staff sees all."""
    api_root = ApiRoot.objects.create(
        slug="intel", title="LLM misuse intelligence", is_default=True
    )
    collection = Collection.objects.create(
        api_root=api_root, title="LLM misuse", alias="llm-misuse"
    )
    other = Collection.objects.create(api_root=api_root, title="Staff only", alias="internal")
    acme = Partner.objects.create(name="Acme", slug="acme")
    globex = Partner.objects.create(name="Globex", slug="globex")
    mallory = Partner.objects.create(name="Mallory", slug="mallory")
    # Foundation tests look at TAXII mechanics, so these agreements hide nothing;
    # tests/intelshare/test_agreements.py and test_policy_properties.py cover the rules.
    services.agreement_create(
        partner=acme,
        name="acme",
        collections=[collection],
        can_write=True,
        tlp_ceiling=stix.TLP_RED,
        consents=[globex],
    )
    services.agreement_create(
        partner=globex, name="globex", collections=[collection], tlp_ceiling=stix.TLP_RED
    )
    personas = {
        "acme": make_user("acme-analyst", partner=acme),
        "globex": make_user("globex-analyst", partner=globex),
        "mallory": make_user("mallory-analyst", partner=mallory),
        "staff": make_user("hub-admin", is_staff=True),
    }
    return World(api_root, collection, other, personas)
