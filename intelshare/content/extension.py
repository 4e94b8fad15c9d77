"""The hub's ``llm-misuse`` STIX 2.1 property extension (§7.3): definition and validator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from intelshare.stixids import (
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
_NOT_EXTENSIBLE = frozenset({"marking-definition", "extension-definition", "language-content"})


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


def _ecma_pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Any:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator() -> Any:
    base = jsonschema.validators.validator_for(schema())
    base.check_schema(schema())
    cls = jsonschema.validators.extend(base, validators={"pattern": _ecma_pattern})
    return cls(schema())


# jsonschema needs ~75 µs per block and ingest calls us for every object, so the
# schema is compiled to plain Python ifs that answer "certainly valid?" (sound, may be
# conservative); only a "no" pays for jsonschema, which writes the messages.
# fastjsonschema 2.22 was measured on the generator and pack blocks: 6.4-6.9 µs per
# block against 5.0-5.1 µs here, and it knows no Draft 2020-12 (``dependentRequired``
# is silently ignored), so it is not used.

Check = Callable[[Any], bool]
_IGNORED = frozenset({"$schema", "$id", "title", "description", "examples", "$comment"})
_TYPES = {
    "object": "isinstance(v, dict)",
    "array": "isinstance(v, list)",
    "string": "isinstance(v, str)",
    "integer": "isinstance(v, int) and not isinstance(v, bool)",
}


class _Source:
    """The functions generated so far and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.functions = 0
        self.tables: dict[str, dict[str, str]] = {}  # property name -> function name

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def node(self, node: dict[str, Any]) -> str:
        """Generate ``def fN(v)`` for ``node``; returns its name."""
        body = [f"    if not ({cond}): return False" for cond in self._conditions(node)]
        self.functions += 1
        name = f"f{self.functions}"
        self.lines += [f"def {name}(v):", *body, "    return True", ""]
        return name

    def compile(self, root: dict[str, Any]) -> Check:
        entry = self.node(root)
        namespace = dict(self.constants)
        exec("\n".join(self.lines), namespace)  # our own schema, compiled once
        for table, functions in self.tables.items():
            namespace[table] = {prop: namespace[f] for prop, f in functions.items()}
        return namespace[entry]

    def _conditions(self, node: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for key, arg in node.items():
            if key in _IGNORED or key in ("then", "else"):
                continue
            if key == "type":
                out.append(_TYPES[arg])
            elif key in ("const", "enum"):
                allowed = frozenset([arg] if key == "const" else arg)
                if not all(isinstance(a, str) for a in allowed):
                    raise NotImplementedError(f"{key} with non-string values")
                out.append(f"isinstance(v, str) and v in {self.constant(allowed)}")
            elif key == "pattern":
                out.append(
                    f"not isinstance(v, str) or {self.constant(_regex(arg))}.search(v) is not None"
                )
            elif key in ("minLength", "maxLength", "minItems"):
                kind = "list" if key == "minItems" else "str"
                op = "<=" if key == "maxLength" else ">="
                out.append(f"not isinstance(v, {kind}) or len(v) {op} {int(arg)}")
            elif key in ("minimum", "maximum"):
                op = ">=" if key == "minimum" else "<="
                out.append(f"not isinstance(v, (int, float)) or v {op} {arg!r}")
            elif key == "uniqueItems":
                out.append(
                    "not isinstance(v, list) or (all(isinstance(i, str) for i in v)"
                    " and len(set(v)) == len(v))"
                )
            elif key == "required":
                keys = " and ".join(f"{k!r} in v" for k in arg) or "True"
                out.append(f"not isinstance(v, dict) or ({keys})")
            elif key == "dependentRequired":
                for k, needed in arg.items():
                    keys = " and ".join(f"{r!r} in v" for r in needed) or "True"
                    out.append(f"not isinstance(v, dict) or {k!r} not in v or ({keys})")
            elif key == "properties":
                functions = {k: self.node(sub) for k, sub in arg.items()}  # nested first
                table = f"t{len(self.tables)}"
                self.tables[table] = functions
                closed = node.get("additionalProperties") is False
                unknown = "False" if closed else "True"
                out.append(
                    f"not isinstance(v, dict) or all(({table}[k](x) if k in {table} "
                    f"else {unknown}) for k, x in v.items())"
                )
            elif key == "additionalProperties":
                if arg is not False or "properties" not in node:
                    raise NotImplementedError("additionalProperties other than false")
            elif key == "items":
                out.append(f"not isinstance(v, list) or all(map({self.node(arg)}, v))")
            elif key in ("anyOf", "allOf"):
                joiner = " or " if key == "anyOf" else " and "
                out.append(joiner.join(f"{self.node(sub)}(v)" for sub in arg))
            elif key == "if":
                cond, then = self.node(arg), self.node(node.get("then", {}))
                other = self.node(node.get("else", {}))
                out.append(f"({then}(v) if {cond}(v) else {other}(v))")
            else:
                raise NotImplementedError(f"schema keyword {key!r} not compiled")
        return out


@cache
def _fast() -> Check:
    return _Source().compile(schema())


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
    """Human-readable errors in ``obj``'s llm-misuse block; ``[]`` when fine."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict) or EXTENSION_ID not in extensions:
        return []
    problems: list[str] = []
    stix_type = obj.get("type")
    if stix_type in _NOT_EXTENSIBLE:
        problems.append(
            f"{_where(())}: the llm-misuse extension does not apply to {stix_type} objects"
        )
    block = extensions[EXTENSION_ID]
    if certainly_valid(block):
        return problems
    errors = sorted(
        _validator().iter_errors(block), key=lambda e: [str(p) for p in e.absolute_path]
    )
    problems.extend(f"{_where(e.absolute_path)}: {_message(e)}" for e in errors)
    return problems
