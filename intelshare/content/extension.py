"""The hub's ``llm-misuse`` STIX 2.1 extension: its definition and its validator.

Why a **property extension** (STIX 2.1 §7.3, ``extension_types:
["property-extension"]``) and not a new SCO:

* What we add is *context about existing things* — which LLM-themed behaviour
  an indicator detects, which provider a campaign abused, what disruption
  followed. That belongs on the indicator, campaign, intrusion-set,
  attack-pattern, malware or sighting it describes. A new SCO would be a
  separate object that every consumer must join back through relationships.
* Consumers that do not know the extension still get a complete, standard
  object and MAY ignore the block (§7.3); an unknown SCO type is often
  rejected outright or dropped by TAXII clients and TIPs.
* Policy and storage key on the object (TLP, versions, references); a property
  block travels with its object's markings and versions automatically. A
  granular marking can still hide one property, e.g. ``prompt_text``.
* A prompt *as an observation* (text seen in a log) is already expressible with
  the standard ``artifact`` SCO (§6.1) plus hashes; the extension carries a
  ``prompt_fingerprint`` so no new cyber-observable is needed for matching.

The schema ships in ``schemas/llm-misuse-ext-v1.json``. ``validate_extensions``
is called by ``intelshare.ingest.store`` on every inbound object, so the
validator is compiled once and objects without the extension return at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from intelshare.content.stixids import (
    HUB_IDENTITY_ID,
    LLM_MISUSE_EXTENSION_ID,
    TLP2_CLEAR,
)

EXTENSION_ID = LLM_MISUSE_EXTENSION_ID
SCHEMA_URL = "https://intelshare.example/schemas/llm-misuse-ext-v1.json"
SCHEMA_FILE = "llm-misuse-ext-v1.json"
VERSION = "1.0.0"
_DEFINED = "2026-06-01T00:00:00.000Z"

# Meta objects describe data; LLM-misuse context on them is meaningless.
_NOT_EXTENSIBLE = frozenset(
    {"marking-definition", "extension-definition", "language-content"}
)


@cache
def schema() -> dict[str, Any]:
    """The extension's JSON Schema (Draft 2020-12), read once from the package."""
    path = resources.files("intelshare.content").joinpath("schemas", SCHEMA_FILE)
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns are ECMA-262: an unescaped final "$" does not match
    # before a trailing newline, Python's does ("ab\n" would pass "^[a-f]+$").
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, _schema: Any
) -> Any:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator() -> Any:
    base = jsonschema.validators.validator_for(schema())
    base.check_schema(schema())
    cls = jsonschema.validators.extend(base, validators={"pattern": _ecma_pattern})
    return cls(schema())


# --- compiled fast path ----------------------------------------------------------
# jsonschema needs ~75 µs per block; ingest calls us for every object. The
# schema is compiled once into plain closures that answer "certainly valid?"
# (sound, may be conservative); only a "no" pays for jsonschema, which then
# produces the messages. tests/content/test_extension.py checks soundness.

Check = Callable[[Any], bool]
_IGNORED = frozenset({"$schema", "$id", "title", "description", "examples", "$comment"})
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _compile(node: dict[str, Any]) -> Check:
    checks: list[Check] = []
    for key, arg in node.items():
        if key in _IGNORED or key in ("then", "else"):
            continue
        if key == "type":
            checks.append(_TYPES[arg])
        elif key in ("const", "enum"):
            allowed = frozenset([arg] if key == "const" else arg)
            if not all(isinstance(a, str) for a in allowed):
                raise NotImplementedError(f"{key} with non-string values")
            checks.append(lambda v, a=allowed: isinstance(v, str) and v in a)
        elif key == "pattern":
            rx = _regex(arg)
            checks.append(lambda v, rx=rx: not isinstance(v, str) or bool(rx.search(v)))
        elif key in ("minLength", "maxLength", "minItems"):
            kind, low = (str, key != "maxLength") if key != "minItems" else (list, True)
            checks.append(
                lambda v, n=arg, k=kind, lo=low: not isinstance(v, k)
                or (len(v) >= n if lo else len(v) <= n)
            )
        elif key in ("minimum", "maximum"):
            checks.append(
                lambda v, n=arg, lo=key == "minimum": not isinstance(v, int | float)
                or (v >= n if lo else v <= n)
            )
        elif key == "uniqueItems":
            checks.append(
                lambda v: not isinstance(v, list)
                or (all(isinstance(i, str) for i in v) and len(set(v)) == len(v))
            )
        elif key == "required":
            checks.append(lambda v, r=tuple(arg): not isinstance(v, dict)
                          or all(k in v for k in r))
        elif key == "dependentRequired":
            deps = {k: tuple(r) for k, r in arg.items()}
            checks.append(lambda v, d=deps: not isinstance(v, dict) or all(
                all(r in v for r in rs) for k, rs in d.items() if k in v))
        elif key == "properties":
            props = {k: _compile(sub) for k, sub in arg.items()}
            closed = node.get("additionalProperties") is False
            checks.append(lambda v, p=props, c=closed: not isinstance(v, dict) or all(
                (k in p and p[k](x)) or (k not in p and not c) for k, x in v.items()))
        elif key == "additionalProperties":
            if arg is not False or "properties" not in node:
                raise NotImplementedError("additionalProperties other than false")
        elif key == "items":
            sub = _compile(arg)
            checks.append(lambda v, s=sub: not isinstance(v, list) or all(map(s, v)))
        elif key in ("anyOf", "allOf"):
            subs = [_compile(s) for s in arg]
            agg = any if key == "anyOf" else all
            checks.append(lambda v, ss=subs, f=agg: f(s(v) for s in ss))
        elif key == "if":
            cond = _compile(arg)
            then = _compile(node.get("then", {}))
            other = _compile(node.get("else", {}))
            checks.append(lambda v, c=cond, t=then, o=other: t(v) if c(v) else o(v))
        else:
            raise NotImplementedError(f"schema keyword {key!r} not compiled")
    return lambda v: all(c(v) for c in checks)


@cache
def _fast() -> Check:
    return _compile(schema())


def certainly_valid(block: Any) -> bool:
    """True only if ``block`` is valid under the schema (the compiled fast path)."""
    return _fast()(block)


def abuse_categories() -> tuple[str, ...]:
    """The known ``abuse_category`` slugs, in schema order."""
    return tuple(schema()["properties"]["abuse_category"]["items"]["anyOf"][0]["enum"])


def misuse_domains() -> tuple[str, ...]:
    """The allowed ``misuse_domain`` values, in schema order."""
    return tuple(schema()["properties"]["misuse_domain"]["enum"])


def extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` object (STIX 2.1 §7.3.1) owned by the hub."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "created_by_ref": HUB_IDENTITY_ID,
        "name": "llm-misuse",
        "description": (
            "Context on misuse of large language models, added to SDOs and SROs "
            "(indicator, campaign, intrusion-set, attack-pattern, malware, "
            "sighting ...): abuse_category, misuse_domain, provider, model_family, "
            "interaction_channel, prompt_fingerprint (optional prompt_text), "
            "disruption, breakout_scale."
        ),
        "schema": SCHEMA_URL,
        "version": VERSION,
        "extension_types": ["property-extension"],
        "object_marking_refs": [TLP2_CLEAR],
    }


def _where(path: Any) -> str:
    out = f"extensions[{EXTENSION_ID}]"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(error: jsonschema.ValidationError) -> str:
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if error.validator in ("anyOf", "oneOf") and title:
        return f"{error.instance!r} is not a valid {title}"
    return error.message


def validate_extensions(obj: dict[str, Any]) -> list[str]:
    """Human-readable errors in ``obj``'s llm-misuse block; ``[]`` when fine.

    Objects without the extension are fine. Errors name the property path, e.g.
    ``extensions[extension-definition--…].prompt_fingerprint.value: …``.
    """
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict) or EXTENSION_ID not in extensions:
        return []
    problems: list[str] = []
    stix_type = obj.get("type")
    if stix_type in _NOT_EXTENSIBLE:
        problems.append(
            f"{_where(())}: the llm-misuse extension does not apply to "
            f"{stix_type} objects"
        )
    block = extensions[EXTENSION_ID]
    if certainly_valid(block):
        return problems
    errors = sorted(
        _validator().iter_errors(block), key=lambda e: [str(p) for p in e.absolute_path]
    )
    problems.extend(f"{_where(e.absolute_path)}: {_message(e)}" for e in errors)
    return problems
