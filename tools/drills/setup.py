"""The drills' Django side, run as ``python -m tools.drills.setup <command> '<json args>'``."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from sync import runs

# A throwaway account on a throwaway database.
PASSWORD = "drill-Password-7c1e"


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _collection() -> Any:
    from intelshare.models import Collection

    return Collection.objects.get(api_root__slug="drills", alias="drill-intel")


def _partner(slug: str) -> Any:
    from intelshare.models import Partner

    return Partner.objects.get(slug=slug)


def cmd_world(args: dict[str, Any]) -> dict[str, Any]:
    """API root ``drills``, collection ``drill-intel``, a writer and a reader partner
    (the writer consents to the reader), a user and token each, and hub staff."""
    from intelshare import accounts, services, stix
    from intelshare.models import ApiRoot, Collection

    root = ApiRoot.objects.create(
        slug="drills", title="Drills", is_default=True, max_content_length=64 * 1024 * 1024
    )
    collection = Collection.objects.create(api_root=root, title="Drill intel", alias="drill-intel")
    writer_p = accounts.partner_create(name="Drill Writer", slug="drill-writer")
    reader_p = accounts.partner_create(name="Drill Reader", slug="drill-reader")
    services.agreement_create(
        partner=writer_p,
        name="writer",
        collections=[collection],
        can_write=True,
        tlp_ceiling=stix.TLP_RED,
        consents=[reader_p],
    )
    services.agreement_create(
        partner=reader_p, name="reader", collections=[collection], tlp_ceiling=stix.TLP_RED
    )
    users: dict[str, Any] = {}
    for name, partner in (("writer", writer_p), ("reader", reader_p), ("staff", None)):
        user = accounts.user_create(
            username=f"drill-{name}", partner=partner, is_staff=partner is None, password=PASSWORD
        )
        _, token = accounts.token_issue(user=user, name="drills")
        users[name] = {"username": user.username, "password": PASSWORD, "token": token}
    return {"root": "drills", "collection": str(collection.pk), "users": users}


def cmd_load(args: dict[str, Any]) -> dict[str, Any]:
    """Store ``count`` synthetic indicators through ``ingest.store`` (the writer's)."""
    from intelshare import ingest
    from intelshare.models import Partner
    from tools.drills.objects import batch

    collection = _collection()
    writer = Partner.objects.get(slug="drill-writer")
    stored = 0
    for start in range(0, args["count"], 1000):
        objects = batch(args["label"], start, min(1000, args["count"] - start))
        stored += ingest.store(
            collection=collection, objects=objects, source_partner=writer, origin="drills:load"
        ).new
    return {"stored": stored}


def cmd_versions(args: dict[str, Any]) -> dict[str, Any]:
    """Every stored (id, version) of the drill collection, through the staff path."""
    from intelshare import policy, stix

    rows = policy.catalogue(collection=_collection()).values_list("stix_id", "version")
    return {"versions": [[sid, stix.format_version(v)] for sid, v in rows.iterator()]}


def cmd_statuses(args: dict[str, Any]) -> dict[str, Any]:
    from intelshare.models import Status

    rows = Status.objects.values_list(
        "pk", "status", "total_count", "success_count", "failure_count", "pending_count"
    )
    return {"statuses": [[str(pk), *rest] for pk, *rest in rows]}


def cmd_resume(args: dict[str, Any]) -> dict[str, Any]:
    """What the beat task ``intelshare.resume_pending_statuses`` does every minute for
    statuses pending more than 2 minutes, without the wait."""
    from intelshare import submissions

    return {"resumed": submissions.resume_pending(older_than=timedelta(0))}


def cmd_feeds(args: dict[str, Any]) -> dict[str, Any]:
    """Create one pull feed per entry, then run every feed at once (one thread each)
    for ``rounds`` rounds through ``sync.pull.run``; report each run and each feed."""
    from django.db import connection
    from django.utils import timezone

    from intelshare.models import Partner
    from sync import pull, services
    from sync.models import Feed, SyncRun

    partner = Partner.objects.get(slug="drill-writer")
    collection = _collection()
    feeds: dict[str, Feed] = {}
    for spec in args["feeds"]:
        auth = spec.get("auth")
        feeds[spec["name"]] = services.feed_create(
            name=spec["name"],
            partner=partner,
            direction=Feed.PULL,
            api_root_url=spec["url"],
            remote_collection_id=spec["collection"],
            auth_type=Feed.AUTH_BASIC if auth else Feed.AUTH_NONE,
            username=auth[0] if auth else "",
            secret=auth[1] if auth else "",
            collection=collection,
            page_size=spec.get("page_size", 50),
        )

    rounds: list[dict[str, Any]] = []
    for _ in range(args.get("rounds", 1)):
        outcomes: dict[str, Any] = {}

        def one(name: str, feed_id: int, into: dict[str, Any]) -> None:
            began = time.monotonic()
            try:
                result = pull.run(feed_id=feed_id, owner=runs.new_owner(via="drill"))
                run = result.run
                into[name] = {
                    "seconds": round(time.monotonic() - began, 2),
                    "outcome": run.outcome if run else "skipped",
                    "error": run.error if run else "",
                    "stored": run.stored if run else 0,
                    "fetched": run.fetched if run else 0,
                    "retry_in": result.retry_in,
                }
            except Exception as exc:  # a drill reports; it does not hide a crash
                into[name] = {
                    "seconds": round(time.monotonic() - began, 2),
                    "outcome": "crashed",
                    "error": f"{type(exc).__name__}: {exc}",
                }
            finally:
                connection.close()

        threads = [
            threading.Thread(target=one, args=(name, feed.pk, outcomes), daemon=True)
            for name, feed in feeds.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.get("join_timeout", 120))
        for thread, name in zip(threads, feeds, strict=True):
            if thread.is_alive():
                outcomes[name] = {"outcome": "still running", "seconds": None}
        now = timezone.now()
        state = {}
        for name, feed in feeds.items():
            feed.refresh_from_db()
            state[name] = {
                "healthy": feed.healthy,
                "consecutive_failures": feed.consecutive_failures,
                "next_attempt_in": (
                    round((feed.next_attempt - now).total_seconds(), 1)
                    if feed.next_attempt
                    else None
                ),
                "last_error": feed.last_error[:200],
                "outcomes": SyncRun.objects.filter(feed=feed).count(),
            }
        rounds.append({"outcomes": outcomes, "feeds": state})
    # What the beat dispatcher would enqueue now: backed-off feeds must not be due.
    due = sorted(feed.name for feed in Feed.objects.filter(pk__in=services.dispatch_due()))
    return {"rounds": rounds, "due_now": due}


def cmd_pull(args: dict[str, Any]) -> dict[str, Any]:
    """One ``sync.pull.run`` of the pull feed ``args["name"]`` (created on first use,
    pages of ``page_size``); reports the run and the feed's checkpoint after it."""
    from intelshare.stix import format_timestamp
    from sync import pull, services
    from sync.models import Feed

    feed = Feed.objects.filter(name=args["name"]).first()
    if feed is None:
        user, password = args["auth"]
        feed = services.feed_create(
            name=args["name"],
            partner=_partner("drill-writer"),
            direction=Feed.PULL,
            api_root_url=args["url"],
            remote_collection_id=args["collection"],
            auth_type=Feed.AUTH_BASIC,
            username=user,
            secret=password,
            collection=_collection(),
            page_size=args["page_size"],
        )
    result = pull.run(feed_id=feed.pk, owner=runs.new_owner(via="drill"))
    feed.refresh_from_db()
    run = result.run
    if run is None:
        return {"run": None, "retry_in": None, "checkpoint": None}
    report = {
        field: getattr(run, field)
        for field in ("outcome", "error", "pages", "fetched", "stored", "duplicates", "quarantined")
    }
    checkpoint = feed.checkpoint
    return {
        "run": report,
        "retry_in": result.retry_in,
        "checkpoint": format_timestamp(checkpoint) if checkpoint else None,
    }


COMMANDS = {
    name.removeprefix("cmd_"): fn for name, fn in globals().items() if name.startswith("cmd_")
}


def main() -> None:
    command, raw = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "{}")
    _django()
    result = COMMANDS[command](json.loads(raw))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
