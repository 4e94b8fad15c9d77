"""Fixed STIX identifiers of the hub and of the TLP marking definitions (STIX 2.1
§7.2.1.4 and the OASIS TLP 2.0 extension): a contract with partners, never changed.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

# --- the hub -------------------------------------------------------------------

#: The hub's own identity: ``created_by_ref`` of the starter pack and of the
#: extension definition. Drawn once with uuid4 (STIX 2.1 §2.9: SHOULD be UUIDv4).
HUB_IDENTITY_ID = "identity--dad9379c-0353-443e-bb2d-05fb01c133a5"

#: The llm-misuse property extension (see ``intelshare.content.extension``).
LLM_MISUSE_EXTENSION_ID = "extension-definition--d62bb36b-dbfb-4d16-8394-fe3ad3a375c7"

# --- TLP 1.0 (STIX 2.1 §7.2.1.4): predefined, the only permitted instances ------

TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
TLP1_IDS: dict[str, str] = {
    "white": TLP1_WHITE,
    "green": TLP1_GREEN,
    "amber": TLP1_AMBER,
    "red": TLP1_RED,
}
_TLP1_CREATED = "2017-01-20T00:00:00.000Z"

# --- TLP 2.0 (OASIS extension, not predefined by STIX 2.1) ----------------------

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP2_IDS: dict[str, str] = {
    "clear": TLP2_CLEAR,
    "green": TLP2_GREEN,
    "amber": TLP2_AMBER,
    "amber+strict": TLP2_AMBER_STRICT,
    "red": TLP2_RED,
}
_TLP2_CREATED = "2022-10-01T00:00:00.000Z"


def tlp2_marking(level: str) -> dict[str, Any]:
    """The TLP 2.0 marking-definition for ``level`` (``clear`` ... ``red``), as in the
    OASIS examples; ``KeyError`` for an unknown level.
    """
    name = "TLP:" + level.upper()
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": _TLP2_CREATED,
        "name": name,
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": level,
            },
        },
    }


def tlp1_marking(level: str) -> dict[str, Any]:
    """The predefined TLP 1.0 marking-definition object (STIX 2.1 §7.2.1.4)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1_IDS[level],
        "created": _TLP1_CREATED,
        "definition_type": "tlp",
        "name": "TLP:" + level.upper(),
        "definition": {"tlp": level},
    }


def all_tlp_markings() -> list[dict[str, Any]]:
    """All nine TLP marking-definition objects, TLP 2.0 first."""
    return [tlp2_marking(level) for level in TLP2_IDS] + [tlp1_marking(level) for level in TLP1_IDS]


# --- deterministic ids for hub-authored content ---------------------------------

_PACK_NAMESPACE = "intelshare:content:v1"


def fixed_id(stix_type: str, key: str) -> str:
    """A stable UUIDv4-shaped id (STIX 2.1 §2.9) for hub content named by ``key``:
    the free bits come from a SHA-256 of type and key, so loads are idempotent.
    """
    digest = bytearray(
        hashlib.sha256(f"{_PACK_NAMESPACE}|{stix_type}|{key}".encode()).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return f"{stix_type}--{uuid.UUID(bytes=bytes(digest))}"
