"""TAXII 2.0 pagination (CS01 §3.4.3): ``Range: items a-b`` over the policy's stream."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from intelshare import stix
from intelshare.policy import Cursor, Row, View
from intelshare.taxii.errors import BadRequest, TaxiiError
from intelshare.taxii.pages import Selection

# taxii2client sends "items=a-b" and, after an error, "items a-b" (the 2.0 text).
_RANGE = re.compile(r"items\s*[= ]\s*(\d{1,15})\s*-\s*(\d{1,15})")


class RangeNotSatisfiable(TaxiiError):
    http_status, title = 416, "Requested Range Not Satisfiable"


@dataclass(frozen=True, slots=True)
class Span:
    """The items asked for: ``first`` and how many (``explicit`` when by Range)."""

    first: int
    count: int
    explicit: bool


def parse(header: str | None) -> Span:
    """The span of a ``Range`` header; without one, the first page of the maximum size."""
    limit = settings.INTELSHARE_MAX_PAGE_SIZE
    if header is None or not header.strip():
        return Span(0, limit, explicit=False)
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        raise BadRequest(
            "Range must be 'items a-b' with a <= b (TAXII 2.0 §3.4.3)", error_code="bad-range"
        )
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise BadRequest(
            "Range must be 'items a-b' with a <= b (TAXII 2.0 §3.4.3)", error_code="bad-range"
        )
    return Span(first, min(last - first + 1, limit), explicit=True)


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]  # (pk, view date_added, *fields)
    span: Span
    total: int | None  # None while more items follow

    @property
    def status(self) -> int:
        """206 for a range of items; 200 for all of them unasked, or for none."""
        return 206 if self.rows and (self.span.explicit or self.total is None) else 200

    def headers(self, stamp: Any) -> dict[str, str]:
        """``Content-Range`` and ``X-TAXII-Date-Added-First/Last`` (TAXII 2.0 §3.4.3)."""
        total = "*" if self.total is None else str(self.total)
        if not self.rows:
            return {"Content-Range": f"items */{total}"}
        first = self.span.first
        return {
            "Content-Range": f"items {first}-{first + len(self.rows) - 1}/{total}",
            "X-TAXII-Date-Added-First": stamp(self.rows[0].added),
            "X-TAXII-Date-Added-Last": stamp(self.rows[-1].added),
        }


# How long a page's end position is remembered for the next page's request.
POSITION_TTL = 3600


def _remembered(key: str, first: int) -> Cursor | None:
    found = cache.get(f"{key}:{first}")
    if not isinstance(found, list) or len(found) != 2:
        return None
    return Cursor(stix.parse_timestamp(found[0]), int(found[1]))


def fetch(
    view: View,
    selection: Selection,
    added_after: datetime | None,
    span: Span,
    fields: Sequence[str],
    *,
    key: str,
) -> Page:
    """The rows of ``span`` in ``view``'s order; 416 when it starts past the end.
    ``key`` names the caller's query (``filters.Query.fingerprint``)."""
    key = f"taxii20:{key}"
    after = _remembered(key, span.first) if span.first else None
    if span.first and after is None:
        before = view.window(
            selection.narrow,
            added_after=added_after,
            after=None,
            limit=span.first,
            fields=(),
            versions=selection.versions,
            exact=selection.exact,
        )
        if len(before) < span.first:
            raise RangeNotSatisfiable(
                f"the range starts past the last item ({len(before)} items)",
                error_code="range-not-satisfiable",
                headers={"Content-Range": f"items */{len(before)}"},
            )
        after = before[-1].cursor
    rows = view.window(
        selection.narrow,
        added_after=added_after,
        after=after,
        limit=span.count + 1,
        fields=fields,
        versions=selection.versions,
        exact=selection.exact,
    )
    if not rows and span.first:
        raise RangeNotSatisfiable(
            f"the range starts past the last item ({span.first} items)",
            error_code="range-not-satisfiable",
            headers={"Content-Range": f"items */{span.first}"},
        )
    more = len(rows) > span.count
    rows = rows[: span.count]
    if more:
        last = rows[-1]
        cache.set(
            f"{key}:{span.first + len(rows)}",
            [stix.format_timestamp(last[1]), last[0]],
            POSITION_TTL,
        )
    return Page(rows, span, None if more else span.first + len(rows))
