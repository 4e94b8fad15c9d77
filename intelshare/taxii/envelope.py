"""Reading a POSTed envelope (§3.7, §5.5): strict I-JSON, bounded, nothing stored."""

from __future__ import annotations

import json
import math
from typing import Any

from intelshare.taxii.errors import PayloadTooLarge, TaxiiError, Unprocessable

MAX_INT = 2**53 - 1


class _NotIJson(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _NotIJson(f"duplicate member name {duplicate!r}")
    return obj


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INT:
        raise _NotIJson(f"integer {text[:30]} is outside ±(2^53-1)")
    return value


def _constant(name: str) -> Any:
    raise _NotIJson(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotIJson(f"number {text[:30]} is out of range")
    return value


def parse(body: bytes, *, max_length: int) -> list[Any]:
    """The objects of an envelope; raises a ``TaxiiError`` for anything else."""
    if len(body) > max_length:
        raise PayloadTooLarge(
            f"the body exceeds max_content_length ({max_length} octets)", error_code="too-large"
        )
    try:
        text = body.decode("utf-8")
        document = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except UnicodeDecodeError:
        raise TaxiiError("the body is not valid UTF-8", error_code="malformed-json") from None
    except RecursionError:
        raise TaxiiError("the body is nested too deeply", error_code="malformed-json") from None
    except _NotIJson as exc:
        raise TaxiiError(
            f"the body is not I-JSON (RFC 7493): {exc}", error_code="malformed-json"
        ) from None
    except json.JSONDecodeError as exc:
        raise TaxiiError(
            f"the body is not valid JSON: {exc}", error_code="malformed-json"
        ) from None
    if not isinstance(document, dict):
        raise Unprocessable(
            "the body must be an envelope (a JSON object, §3.7)", error_code="not-an-envelope"
        )
    objects = document.get("objects")
    if not isinstance(objects, list) or not objects:
        raise Unprocessable(
            "the envelope's objects must be a non-empty list (§3.7, §2)",
            error_code="not-an-envelope",
        )
    return objects
