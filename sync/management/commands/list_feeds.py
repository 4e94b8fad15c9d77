"""``manage.py list_feeds``: every feed with its health, lag and position."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from sync.models import Feed


def _age(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    if abs(seconds) < 120:
        return f"{seconds}s"
    if abs(seconds) < 7200:
        return f"{seconds // 60}m"
    if abs(seconds) < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _since(now: datetime, value: datetime | None) -> str:
    return "never" if value is None else _age(now - value) + " ago"


class Command(BaseCommand):
    help = "List partner feeds: direction, state, health, lag (now - newest remote date_added)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--errors", action="store_true", help="show the last error in full")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        rows = [
            (
                "ID",
                "NAME",
                "PARTNER",
                "DIR",
                "STATE",
                "HEALTH",
                "LAST SUCCESS",
                "NEXT",
                "LAG",
                "CHECKPOINT",
            )
        ]
        feeds = Feed.objects.select_related("partner").order_by("name")
        errors = []
        for feed in feeds:
            state = "enabled" if feed.enabled else "paused"
            if feed.lease_until is not None and feed.lease_until > now:
                state = "running"
            health = "ok" if feed.healthy else f"failing x{feed.consecutive_failures}"
            position = feed.checkpoint if feed.direction == Feed.PULL else feed.push_cursor_date
            upcoming = (
                "-"
                if feed.next_attempt is None
                else ("due" if feed.next_attempt <= now else "in " + _age(feed.next_attempt - now))
            )
            rows.append(
                (
                    str(feed.pk),
                    feed.name,
                    feed.partner.slug,
                    feed.direction,
                    state,
                    health,
                    _since(now, feed.last_success),
                    upcoming,
                    _age(feed.lag(now)),
                    position.isoformat() if position else "-",
                )
            )
            if feed.last_error and (options["errors"] or not feed.healthy):
                text = feed.last_error if options["errors"] else feed.last_error[:200]
                errors.append(f"{feed.name}: {text}")
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        if len(rows) == 1:
            self.stdout.write("(no feeds; add one with manage.py add_feed)")
        for line in errors:
            self.stdout.write(line)
