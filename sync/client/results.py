"""What the client returns: pages with their TAXII headers, API root and collection
descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from intelshare import stix
from sync.client.errors import RemoteProtocolError

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Page:
    """One non-empty page of Get Objects (TAXII 2.1 §5.4), every version."""

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    date_added_first: datetime | None
    date_added_last: datetime | None

    @property
    def checkpoint(self) -> datetime | None:
        """The ``added_after`` from which a later run resumes without a gap."""
        if self.date_added_last is None or not self.more:
            return self.date_added_last
        return self.date_added_last - _ONE_MICROSECOND


@dataclass(frozen=True)
class ApiRootInfo:
    """The API Root resource (TAXII 2.1 §4.2.1)."""

    title: str
    description: str | None
    versions: tuple[str, ...]
    max_content_length: int


@dataclass(frozen=True)
class RemoteCollection:
    """One collection of a remote API root (TAXII 2.1 §5.2.1)."""

    id: str
    title: str
    alias: str | None
    can_read: bool
    can_write: bool


def header_timestamp(response: requests.Response | None, name: str) -> datetime | None:
    raw = response.headers.get(name) if response is not None else None
    if raw is None:
        return None
    try:
        return stix.parse_timestamp(raw)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad {name} header {raw!r}") from exc


def later(page: Page, than: datetime) -> bool:
    return page.date_added_last is not None and page.date_added_last > than


def fingerprint(page: Page) -> tuple[object, ...]:
    # (id, version), not the id alone: consecutive pages may start or end with
    # versions of one object, and must not read as the same page twice.
    def key(obj: Mapping[str, Any]) -> tuple[object, object]:
        return (obj.get("id"), obj.get("modified", obj.get("created")))

    return (
        len(page.objects),
        key(page.objects[0]),
        key(page.objects[-1]),
        page.date_added_first,
        page.date_added_last,
    )
