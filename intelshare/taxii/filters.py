"""TAXII 2.1 URL parameters (§3.4): parsed once into a frozen ``Query``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.http import QueryDict

from intelshare import stix
from intelshare.policy import Cursor
from intelshare.taxii.errors import BadRequest

ADDED_AFTER, LIMIT, NEXT = "added_after", "limit", "next"
M_ID, M_TYPE = "match[id]", "match[type]"
M_VERSION, M_SPEC = "match[version]", "match[spec_version]"
VERSION_KEYWORDS = frozenset({"first", "last", "all"})

_SPEC = re.compile(r"^\d+\.\d+$")
_SALT = "intelshare.taxii.next"


@dataclass(frozen=True, slots=True)
class Query:
    added_after: datetime | None
    limit: int
    cursor: Cursor | None
    ids: tuple[str, ...]
    types: tuple[str, ...]
    versions: tuple[str, ...]  # keywords and exact versions, as given
    spec_versions: tuple[str, ...]
    fingerprint: str

    @property
    def version_keywords(self) -> frozenset[str]:
        return frozenset(v for v in self.versions if v in VERSION_KEYWORDS)

    @property
    def version_values(self) -> tuple[datetime, ...]:
        return tuple(stix.parse_timestamp(v) for v in self.versions if v not in VERSION_KEYWORDS)

    def next_token(self, last: Cursor) -> str:
        payload = [self.fingerprint, stix.format_timestamp(last.date_added), last.pk]
        return signing.dumps(payload, salt=_SALT, compress=True)


def _single(params: QueryDict, name: str) -> str | None:
    values = params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name} must not be repeated (§3.4)", error_code="bad-filter")
    if values[0] == "":
        raise BadRequest(f"{name} must not be empty", error_code="bad-filter")
    return values[0]


def _list(params: QueryDict, name: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    raw = _single(params, name)
    if raw is None:
        return ()
    items = raw.split(",")
    for item in items:
        if not pattern.fullmatch(item):
            raise BadRequest(f"{name}: {item!r} is not {what}", error_code="bad-filter")
    return tuple(dict.fromkeys(items))


def _versions(params: QueryDict) -> tuple[str, ...]:
    raw = _single(params, M_VERSION)
    if raw is None:
        return ()
    items = raw.split(",")
    if len(set(items)) != len(items):
        raise BadRequest(f"{M_VERSION} must not repeat a value (§3.4.1)", error_code="bad-filter")
    if "all" in items and len(items) > 1:
        raise BadRequest(
            f"{M_VERSION}: 'all' cannot be combined with other values (§3.4.1)",
            error_code="bad-filter",
        )
    for item in items:
        if item not in VERSION_KEYWORDS:
            try:
                stix.parse_timestamp(item)
            except ValueError as exc:
                raise BadRequest(f"{M_VERSION}: {exc}", error_code="bad-filter") from None
    return tuple(items)


def parse(params: QueryDict, *, allowed: frozenset[str], scope: str) -> Query:
    """Parse the parameters ``allowed`` on an endpoint; others are ignored (§3.4 MAY)."""
    added_after = None
    if ADDED_AFTER in allowed and (raw := _single(params, ADDED_AFTER)) is not None:
        try:
            added_after = stix.parse_timestamp(raw)
        except ValueError as exc:
            raise BadRequest(f"added_after: {exc}", error_code="bad-filter") from None
    limit = settings.INTELSHARE_MAX_PAGE_SIZE
    if LIMIT in allowed and (raw := _single(params, LIMIT)) is not None:
        if not raw.isdigit() or int(raw) <= 0:
            raise BadRequest("limit must be a positive integer (§3.4)", error_code="bad-filter")
        limit = min(int(raw), settings.INTELSHARE_MAX_PAGE_SIZE)
    ids = _list(params, M_ID, stix.IDENTIFIER, "a STIX identifier") if M_ID in allowed else ()
    types = _list(params, M_TYPE, stix.TYPE, "a STIX type") if M_TYPE in allowed else ()
    versions = _versions(params) if M_VERSION in allowed else ()
    specs = _list(params, M_SPEC, _SPEC, "a spec version") if M_SPEC in allowed else ()
    canonical = repr((scope, added_after, ids, types, versions, specs))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    cursor = None
    if NEXT in allowed and (raw := _single(params, NEXT)) is not None:
        cursor = _load_cursor(raw, fingerprint)
    return Query(added_after, limit, cursor, ids, types, versions, specs, fingerprint)


def _load_cursor(token: str, fingerprint: str) -> Cursor:
    try:
        payload = signing.loads(token, salt=_SALT, max_age=settings.INTELSHARE_NEXT_MAX_AGE)
    except signing.SignatureExpired:
        raise BadRequest(
            "next token has expired; restart from added_after", error_code="stale-next"
        ) from None
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise BadRequest("next token is not valid", error_code="bad-next") from None
    try:
        token_fingerprint, stamp, pk = payload
        cursor = Cursor(stix.parse_timestamp(stamp), int(pk))
    except (TypeError, ValueError):
        raise BadRequest("next token is not valid", error_code="bad-next") from None
    if token_fingerprint != fingerprint:
        raise BadRequest(
            "next token belongs to another query; send it with the original parameters (§3.4)",
            error_code="mismatched-next",
        )
    return cursor
