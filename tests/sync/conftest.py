"""Helpers of the sync tests: feeds pointed at a live medallion partner."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intelshare.models import ObjectVersion, Partner
from sync import pull, push, runs, services
from sync.client import Page, TaxiiClient
from sync.models import Feed, SyncRun
from tests.factories import World
from tests.support.medallion import MedallionCollection, MedallionServer, make_indicators

SEED_BASE = datetime(2024, 6, 1, tzinfo=UTC)
_names = itertools.count()


def seed(
    count: int,
    label: str,
    *,
    start: datetime = SEED_BASE,
) -> list[tuple[datetime, dict[str, Any]]]:
    """``count`` indicators, each with its own date_added (non-zero microseconds)."""
    return [
        (start + timedelta(microseconds=1 + 997 * i), obj)
        for i, obj in enumerate(make_indicators(count, label=label))
    ]


def make_feed(
    world: World,
    server: MedallionServer,
    collection_id: str,
    *,
    partner: Partner | None = None,
    **fields: Any,
) -> Feed:
    """A feed on ``server``'s collection with HTTP Basic, through the service."""
    fields.setdefault("direction", Feed.PULL)
    fields.setdefault("page_size", 50)
    return services.feed_create(
        name=f"feed-{next(_names)}",
        partner=partner or world.personas["acme"].user.partner,
        api_root_url=server.api_root_url,
        remote_collection_id=collection_id,
        auth_type=Feed.AUTH_BASIC,
        username=server.username,
        secret=server.password,
        collection=world.collection,
        **fields,
    )


def run_feed(feed: Feed, **kwargs: Any) -> SyncRun:
    """One pull or push of ``feed`` by its direction; ``feed`` is reloaded after it."""
    task = push.run if feed.direction == Feed.PUSH else pull.run
    result = task(feed_id=feed.pk, owner=runs.new_owner(), **kwargs)
    assert result.run is not None
    feed.refresh_from_db()
    return result.run


def stored_ids(feed: Feed) -> list[str]:
    return list(
        ObjectVersion.objects.filter(collection=feed.collection).values_list("stix_id", flat=True)
    )


def kill(server: MedallionServer) -> None:
    """SIGKILL the medallion process (no clean shutdown), then reap it."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()


class KillAfterPages:
    """A real client whose server is SIGKILLed once ``pages`` pages were read."""

    def __init__(self, server: MedallionServer, pages: int) -> None:
        self.server, self.pages, self.real = server, pages, None

    def __call__(self, feed: Feed) -> TaxiiClient:
        client = services.client_for(feed)
        real_pages, server, after = client.pages, self.server, self.pages

        def pages(added_after: datetime | None = None, limit: int = 100) -> Iterator[Page]:
            for n, page in enumerate(real_pages(added_after, limit), start=1):
                yield page
                if n == after:
                    kill(server)

        client.pages = pages  # type: ignore[method-assign]
        return client


@pytest.fixture
def medallion_factory(tmp_path: Path) -> Iterator[Any]:
    """Start dedicated medallion servers (for tests that stop or kill them)."""
    servers: list[MedallionServer] = []

    def start(*collections: MedallionCollection, **kwargs: Any) -> MedallionServer:
        server = MedallionServer(
            tmp_path / f"medallion-{len(servers)}", collections=collections, **kwargs
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
