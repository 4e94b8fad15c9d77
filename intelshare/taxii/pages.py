"""Keyset pages of visible versions, rendered straight from stored JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.db.models import Q

from intelshare import stix
from intelshare.models import STIX_21
from intelshare.policy import Row, View
from intelshare.taxii.filters import Query


@dataclass(frozen=True, slots=True)
class Selection:
    """The TAXII filters of a request, to be read through a view."""

    narrow: Q
    versions: frozenset[str]
    exact: tuple[datetime, ...]


def select(
    view: View,
    query: Query,
    *,
    stix_id: str | None = None,
    default_versions: tuple[str, ...] = ("last",),
) -> Selection:
    """Apply the TAXII filters of ``query`` to what ``view`` lets the caller see."""
    narrow = Q()
    if stix_id is not None:
        narrow &= Q(stix_id=stix_id)
    if query.ids:
        narrow &= Q(stix_id__in=query.ids)
    if query.types:
        narrow &= Q(type__in=query.types)
    if query.spec_versions:
        narrow &= Q(spec_version__in=query.spec_versions)
    keywords = query.version_keywords if query.versions else frozenset(default_versions)
    return Selection(narrow, keywords, query.version_values)


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]
    more: bool
    next: str | None
    view: View

    def headers(self) -> dict[str, str]:
        """``X-TAXII-Date-Added-First/Last`` (§3.2); omitted on an empty page."""
        if not self.rows:
            return {}
        return {
            "X-TAXII-Date-Added-First": stix.format_timestamp(self.rows[0].added),
            "X-TAXII-Date-Added-Last": stix.format_timestamp(self.rows[-1].added),
        }


def fetch(view: View, selection: Selection, query: Query, *fields: str) -> Page:
    """One page of ``selection`` in ``view``'s order; ``limit + 1`` rows tell ``more``."""
    rows = view.window(
        selection.narrow,
        added_after=query.added_after,
        after=query.cursor,
        limit=query.limit + 1,
        fields=fields,
        versions=selection.versions,
        exact=selection.exact,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    token = query.next_token(rows[-1].cursor) if more else None
    return Page(rows, more, token, view)


def _head(page: Page) -> bytes:
    if not page.more:
        return b'{"more":false,'
    return b'{"more":true,"next":' + orjson.dumps(page.next) + b","


def envelope(page: Page) -> bytes:
    """An envelope (§3.7) of rows ``(pk, date_added, raw, …)``; ``{}`` when empty."""
    if not page.rows:
        return b"{}"
    objects = ",".join(page.view.render(page.rows, 2)).encode()
    return _head(page) + b'"objects":[' + objects + b"]}"


def manifest(page: Page) -> bytes:
    """A manifest (§5.3.1) of rows ``(pk, date_added, stix_id, version)``."""
    if not page.rows:
        return b"{}"
    records = [
        {
            "id": sid,
            "date_added": stix.format_timestamp(added),
            "version": stix.format_version(version),
            "media_type": STIX_21,
        }
        for _, added, sid, version in page.rows
    ]
    return _head(page) + b'"objects":' + orjson.dumps(records) + b"}"


def versions(page: Page) -> bytes:
    """A versions resource (§5.8.1) of rows ``(pk, date_added, version)``."""
    if not page.rows:
        return b"{}"
    listed = [stix.format_version(version) for _, _, version in page.rows]
    return _head(page) + b'"versions":' + orjson.dumps(listed) + b"}"
