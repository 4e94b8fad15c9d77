"""Sync push against medallion 3.0.0 as the partner (DESIGN.md "Sync", flow 4).

What is pushed comes from ``policy.visible`` for the feed's partner; envelopes
stay under the remote API root's ``max_content_length`` (TAXII 2.1 §4.2.1),
go out with Add Objects (§5.5) and are followed through the status resource
(§4.3.1). medallion reports a re-sent (id, modified) as a failure, so "no
failures" in these tests also proves nothing was sent twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.db.models import Q
from django.utils import timezone

from intelshare import ingest, policy, services, stix, stixids
from intelshare.models import Partner
from sync import push, runs
from sync import services as sync_services
from sync.client import BasicAuth, TaxiiClient
from sync.models import Feed, SyncRun
from tests.factories import BASE_TIME, World, indicator, malware, stamp
from tests.support.medallion import (
    RO_COLLECTION,
    MedallionCollection,
    MedallionServer,
)

from .conftest import make_feed
from .conftest import run_feed as _run

pytestmark = [pytest.mark.medallion, pytest.mark.django_db]

MAX_CONTENT_LENGTH = 6000
PUSHED = "6a1f3e2d-0c4b-4d5e-8f70-a1b2c3d40001"
PARTIAL = "6a1f3e2d-0c4b-4d5e-8f70-a1b2c3d40002"
INFLIGHT = "6a1f3e2d-0c4b-4d5e-8f70-a1b2c3d40003"
RO = RO_COLLECTION


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedallionServer]:
    collections = [MedallionCollection(id=c, title=c[-4:]) for c in (PUSHED, PARTIAL, INFLIGHT)]
    collections.append(MedallionCollection(id=RO, title="read-only", can_write=False))
    with MedallionServer(
        tmp_path_factory.mktemp("push"),
        collections=collections,
        max_content_length=MAX_CONTENT_LENGTH,
    ) as server:
        yield server


def _remote(server: MedallionServer, collection: str) -> dict[tuple[str, str], dict[str, Any]]:
    client = TaxiiClient(
        server.api_root_url, collection, auth=BasicAuth(server.username, server.password)
    )
    with client:
        return {
            (o["id"], o["modified"]): o for page in client.pages(limit=100) for o in page.objects
        }


class Hub:
    """The hub's collection, as the partner ``initech`` (ceiling GREEN, no malware)
    is allowed to see it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.initech = Partner.objects.create(name="Initech", slug="initech")
        services.agreement_create(
            partner=self.initech,
            name="initech",
            collections=[world.collection],
            tlp_ceiling=stix.TLP_GREEN,
            denied_types=["malware"],
        )
        acme = world.personas["acme"].user.partner
        green, amber = [stixids.TLP2_GREEN], [stixids.TLP2_AMBER]
        self.visible: list[dict[str, Any]] = []
        hub_green = [
            indicator(n, markings=green if n % 2 else [stixids.TLP2_CLEAR]) for n in range(30)
        ]
        hidden_amber = indicator(40, markings=amber)
        self._store(
            hub_green
            + [hidden_amber]
            + [indicator(n) for n in range(41, 46)]
            + [malware(n) for n in range(3)]
        )
        acme_green = [indicator(n, markings=green) for n in range(50, 60)]
        self._store(acme_green + [indicator(n, markings=amber) for n in range(60, 63)], acme)
        self._store([indicator(n, markings=green) for n in range(70, 74)], self.initech)
        self.report = {
            "type": "report",
            "spec_version": "2.1",
            "id": f"report--{uuid.uuid4()}",
            "created": stamp(BASE_TIME),
            "modified": stamp(BASE_TIME),
            "name": "SYNTHETIC",
            "published": stamp(BASE_TIME),
            "object_marking_refs": green,
            "object_refs": [hub_green[0]["id"], hidden_amber["id"]],
        }
        self._store([self.report])
        self.visible = hub_green + acme_green + [self.report]

    def _store(self, objects: list[dict[str, Any]], source: Partner | None = None) -> None:
        result = ingest.store(
            collection=self.world.collection, objects=objects, source_partner=source
        )
        assert result.failed == 0

    def policy_set(self) -> set[tuple[str, str]]:
        view = policy.visible(
            partner=self.initech, collection=self.world.collection, now=timezone.now()
        )
        rows = view.window(
            ~Q(source_partner=self.initech),
            added_after=None,
            after=None,
            limit=100_000,
            fields=("stix_id", "version"),
        )
        return {(row[2], stix.format_version(row[3])) for row in rows}


@pytest.fixture
def hub(world: World) -> Hub:
    return Hub(world)


def test_push_sends_exactly_the_policy_view_in_envelopes_under_max_content_length(
    partner: MedallionServer, hub: Hub
) -> None:
    """The partner receives what ``policy.visible`` shows it, minus its own
    contributions, redacted as rendered for it, in several envelopes that each fit
    the remote's max_content_length (a larger one would be refused with 413)."""
    feed = make_feed(
        hub.world, partner, PUSHED, partner=hub.initech, direction=Feed.PUSH, page_size=20
    )
    run = _run(feed)

    assert run.outcome == SyncRun.SUCCESS, run.error
    expected = {(o["id"], o["modified"]) for o in hub.visible}
    assert hub.policy_set() == expected
    remote = _remote(partner, PUSHED)
    assert set(remote) == expected
    assert (run.pushed, run.rejected) == (len(expected), 0)
    assert run.pages >= len(expected) * 400 // MAX_CONTENT_LENGTH
    report = remote[(hub.report["id"], hub.report["modified"])]
    assert report["object_refs"] == [hub.report["object_refs"][0]]  # hidden member removed
    assert feed.push_cursor_date is not None and feed.push_inflight is None
    assert run.checkpoint_after == feed.push_cursor_date
    assert feed.healthy

    again = _run(feed)
    assert (again.outcome, again.pages, again.pushed) == (SyncRun.SUCCESS, 0, 0)

    new = [indicator(n, markings=[stixids.TLP2_GREEN]) for n in range(100, 105)]
    hub._store([*new, indicator(106, markings=[stixids.TLP2_RED])])
    more = _run(feed)
    assert (more.pushed, more.rejected) == (5, 0)
    assert set(_remote(partner, PUSHED)) == expected | {(o["id"], o["modified"]) for o in new}


def test_partly_rejected_envelope_stops_with_the_cursor_before_the_first_rejection(
    partner: MedallionServer, hub: Hub
) -> None:
    """Per-object failures (§4.3.1 ``failures``) are recorded; the cursor moves only
    past the leading objects the remote accepted, and the run stops there."""
    feed = make_feed(
        hub.world, partner, PARTIAL, partner=hub.initech, direction=Feed.PUSH, page_size=100
    )
    view = policy.visible(partner=hub.initech, collection=hub.world.collection, now=timezone.now())
    rows = view.window(
        ~Q(source_partner=hub.initech),
        added_after=None,
        after=None,
        limit=10,
        fields=("raw", *view.redaction_fields),
    )
    # The partner already holds the 6th object: medallion refuses it as a duplicate.
    sixth = view.render(rows, 2)[5]
    partner.add_objects(PARTIAL, [orjson.loads(sixth)])
    result = push.run(feed_id=feed.pk, owner=runs.new_owner())
    feed.refresh_from_db()

    run = result.run
    assert run is not None and run.outcome == SyncRun.FAILED
    assert result.retry_in is None and feed.consecutive_failures == 1
    assert "did not accept" in run.error
    assert run.rejected == 1
    assert run.rejections[0]["id"] == orjson.loads(sixth)["id"]
    assert run.rejections[0]["message"] == "Unable to process object"
    assert (feed.push_cursor_date, feed.push_cursor_pk) == (rows[4][1], rows[4][0])
    assert run.checkpoint_after == rows[4][1]


def test_push_to_a_read_only_collection_is_rejected_and_the_cursor_stays(
    partner: MedallionServer, hub: Hub
) -> None:
    """``can_write`` false (§5.2): 403, permanent, the feed unhealthy, nothing moved."""
    feed = make_feed(hub.world, partner, RO, partner=hub.initech, direction=Feed.PUSH)
    result = push.run(feed_id=feed.pk, owner=runs.new_owner())
    feed.refresh_from_db()
    assert result.run is not None and result.run.outcome == SyncRun.FAILED
    assert result.retry_in is None
    assert "403" in feed.last_error
    assert feed.push_cursor_date is None and feed.push_cursor_pk is None


class Crash(BaseException):
    """The worker dies (nothing below it runs, nothing is recorded)."""


class CrashAfterFirstPost:
    """A real client; the worker "dies" after the first envelope's status id was
    saved and before the status was read back."""

    def __init__(self) -> None:
        self.crashed = False

    def __call__(self, feed: Feed) -> TaxiiClient:
        client = sync_services.client_for(feed)
        real_add = client.add_objects

        def add_objects(envelope: Any) -> dict[str, Any]:
            status = real_add(envelope)
            return {**status, "status": "pending"}  # so the run must wait for it

        def wait_for_status(status_id: str, **kwargs: Any) -> dict[str, Any]:
            self.crashed = True
            raise Crash

        client.add_objects = add_objects  # type: ignore[method-assign]
        client.wait_for_status = wait_for_status  # type: ignore[method-assign]
        return client


def test_envelope_in_flight_at_a_crash_is_settled_from_its_status_not_sent_again(
    partner: MedallionServer, hub: Hub
) -> None:
    """A redelivered run (same task id) takes the lease over, closes the dead run,
    reads the in-flight envelope's status (§4.3) instead of re-sending it, and
    finishes with exactly the policy set at the partner and no failures."""
    feed = make_feed(
        hub.world, partner, INFLIGHT, partner=hub.initech, direction=Feed.PUSH, page_size=20
    )
    crash = CrashAfterFirstPost()
    with pytest.raises(Crash):
        push.run(feed_id=feed.pk, owner=runs.new_owner("task-1"), client_factory=crash)
    feed.refresh_from_db()
    assert crash.crashed and feed.push_inflight is not None
    assert feed.push_cursor_date is None
    first_envelope = len(feed.push_inflight["items"])
    assert 0 < first_envelope == len(_remote(partner, INFLIGHT))

    # Another execution is refused while the lease lives...
    assert push.run(feed_id=feed.pk, owner=runs.new_owner("task-2")).run is None
    # ...but the redelivery of the same message takes it over.
    result = push.run(feed_id=feed.pk, owner=runs.new_owner("task-1"))
    feed.refresh_from_db()
    run = result.run
    assert run is not None and run.outcome == SyncRun.SUCCESS, run and run.error
    assert run.rejected == 0
    # The settled envelope counts here: the dead run recorded nothing.
    assert run.pushed == len(hub.visible)
    assert set(_remote(partner, INFLIGHT)) == {(o["id"], o["modified"]) for o in hub.visible}
    assert feed.push_inflight is None
    dead = SyncRun.objects.get(feed=feed, task_id="task-1", outcome=SyncRun.ABANDONED)
    assert dead.finished is not None and "worker lost" in dead.error
