"""``manage.py sync_feed FEED [--pull|--push]``: run one feed now, in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync import pull, push, runs, services
from sync.models import Feed, SyncRun


class Command(BaseCommand):
    help = (
        "Run a partner feed now, in this process, through the same service as the "
        "scheduled task (one run per feed at a time: refused while another runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("feed", help="feed id or name")
        direction = parser.add_mutually_exclusive_group()
        direction.add_argument(
            "--pull",
            action="store_const",
            const=Feed.PULL,
            dest="direction",
            help="fail unless it is a pull feed",
        )
        direction.add_argument(
            "--push",
            action="store_const",
            const=Feed.PUSH,
            dest="direction",
            help="fail unless it is a push feed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        feed = services.feed_by_key(options["feed"])
        if feed is None:
            raise CommandError(f"no feed {options['feed']!r} (see manage.py list_feeds)")
        if options["direction"] and options["direction"] != feed.direction:
            raise CommandError(f"{feed} is a {feed.direction} feed")
        service = pull.run if feed.direction == Feed.PULL else push.run
        result = service(feed_id=feed.pk, owner=runs.new_owner(via="cli"))
        run = result.run
        if run is None:
            raise CommandError(f"{feed} is running elsewhere; try again later")
        self.stdout.write(summary(run))
        if run.outcome == SyncRun.FAILED:
            retry = "; transient, will be retried" if result.retry_in is not None else ""
            raise CommandError(f"{feed}: {run.error}{retry}")


def summary(run: SyncRun) -> str:
    seconds = run.duration.total_seconds() if run.duration else 0.0
    if run.direction == Feed.PULL:
        counts = (
            f"{run.pages} pages, {run.fetched} fetched, {run.stored} stored, "
            f"{run.duplicates} duplicate, {run.quarantined} quarantined"
        )
    else:
        counts = f"{run.pages} envelopes, {run.pushed} pushed, {run.rejected} rejected"
    after = run.checkpoint_after.isoformat() if run.checkpoint_after else "-"
    return (
        f"{run.feed} run {run.pk}: {run.outcome} in {seconds:.1f} s; {counts}; checkpoint {after}"
    )
