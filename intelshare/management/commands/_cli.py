"""Shared parsing for the administration commands (not a command: leading underscore)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from intelshare import stix
from intelshare.models import Collection, Partner, User

_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TLP_NAMES = list(stix.TLP_BY_NAME)


def duration(text: str, *, option: str) -> timedelta:
    """``900``, ``15m``, ``2h``, ``3d``, ``1w`` → a duration."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise CommandError(f"{option} {text!r}: use seconds or e.g. 15m, 2h, 3d, 1w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def when(text: str, *, option: str) -> datetime:
    """An ISO 8601 date or date-time (UTC unless it says otherwise)."""
    parsed = parse_datetime(text) or parse_datetime(f"{text}T00:00:00")
    if parsed is None:
        raise CommandError(f"{option} {text!r}: use ISO 8601, e.g. 2026-01-31T12:00:00Z")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def partner(slug: str) -> Partner:
    found = Partner.objects.filter(slug=slug).first()
    if found is None:
        raise CommandError(f"no partner with slug {slug!r} (see manage.py list_partners)")
    return found


def user(username: str) -> User:
    found = User.objects.select_related("partner").filter(username=username).first()
    if found is None:
        raise CommandError(f"no user {username!r}")
    return found


def collection(ref: str, *, api_root: str | None = None) -> Collection:
    from intelshare.content import resolve_collection

    try:
        found: Collection = resolve_collection(ref, api_root=api_root)
    except LookupError as exc:
        raise CommandError(f"{exc} (see manage.py list_collections)") from None
    return found


@contextmanager
def clear_errors() -> Iterator[None]:
    """A service's ``ValidationError`` becomes a one-line ``CommandError`` (exit 1)."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            text = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
        else:
            text = " ".join(exc.messages)
        raise CommandError(text) from None


def table(out: Any, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Left-aligned columns, as ``list_feeds`` prints them."""
    cells = [list(map(str, header)), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


class Progress:
    """A counter on a command's standard error (an ``OutputWrapper``): redrawn in
    place on a terminal, one line per step otherwise (logs stay readable)."""

    def __init__(self, total: int, *, stream: Any, label: str = "") -> None:
        self.total, self.done, self.label, self.stream = total, 0, label, stream
        self.tty = bool(stream.isatty())

    def advance(self, n: int) -> None:
        self.done += n
        text = f"{self.label}{self.done}/{self.total} ({100 * self.done // max(self.total, 1)}%)"
        self.stream.write(f"\r{text}" if self.tty else text, ending="" if self.tty else "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("")
