"""Sync pull against medallion 3.0.0 as the partner (DESIGN.md "Sync", flow 3).

TAXII 2.1 §5.4 Get Objects, paged with ``limit``/``next`` (§3.4) and resumed
with ``added_after`` from ``X-TAXII-Date-Added-Last`` (§3.2). Real server,
real database, no mocks: failures are made by stopping or SIGKILLing the
medallion process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from intelshare import policy, stix
from intelshare.models import ObjectVersion
from intelshare.stix import parse_timestamp
from sync import pull, runs, services
from sync.models import Feed, Quarantine, SyncRun
from tests.factories import TLP2_GREEN, World
from tests.support.medallion import (
    MedallionCollection,
    MedallionServer,
    make_indicators,
    make_versioned_seed,
)

from .conftest import SEED_BASE, KillAfterPages, make_feed, seed, stored_ids
from .conftest import run_feed as _run

pytestmark = [pytest.mark.medallion, pytest.mark.django_db]

BIG = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000001"
INCR = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000002"
TLP = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000003"
BAD = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000004"
BUDGET = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000005"
VERSIONS = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000006"
PATTERNS = "0d7e2c1a-5b7f-4e0e-9a51-3c2b1a000007"
BIG_SEED = seed(1010, "pull-big")
INCR_SEED = seed(60, "pull-incr")
BUDGET_SEED = seed(250, "pull-budget")
# 170 ids in the proportions of a real partner: 145 with one version, 20 with two,
# 5 with three (200 versions); the multi-version ids spread through the set.
VERSION_COUNTS = [3 if i % 34 == 5 else 2 if i % 34 in (1, 9, 14, 22) else 1 for i in range(170)]
VERSIONS_SEED = make_versioned_seed(VERSION_COUNTS, label="pull-versions", start=SEED_BASE)


def _unmarked_and_green() -> list[tuple[Any, dict[str, Any]]]:
    unmarked, green = make_indicators(2, label="pull-tlp")
    green["object_marking_refs"] = [TLP2_GREEN]
    return [(added, obj) for (added, _), obj in zip(seed(2, "x"), [unmarked, green], strict=True)]


def _bad_seed() -> list[tuple[Any, dict[str, Any]]]:
    good = make_indicators(3, label="pull-good")
    no_pattern_type, bad_id, backwards = make_indicators(3, label="pull-bad")
    del no_pattern_type["pattern_type"]
    bad_id["id"] = "indicator--not-a-uuid"
    backwards["created"] = "2024-02-01T00:00:00.000Z"
    backwards["modified"] = "2024-01-01T00:00:00.000Z"
    objects = [good[0], no_pattern_type, good[1], bad_id, good[2], backwards]
    return [(added, obj) for (added, _), obj in zip(seed(6, "y"), objects, strict=True)]


BAD_SEED = _bad_seed()


def _pattern_seed() -> list[tuple[Any, dict[str, Any]]]:
    good, bad, sigma = make_indicators(3, label="pull-pattern")
    bad["pattern"] = "not a pattern"
    sigma.update(pattern="title: not STIX\ndetection: {}", pattern_type="sigma")
    return [(added, obj) for (added, _), obj in zip(seed(3, "z"), [good, bad, sigma], strict=True)]


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedallionServer]:
    collections = (
        MedallionCollection(id=BIG, title="Big", can_write=False, seed=BIG_SEED),
        MedallionCollection(id=INCR, title="Incremental", seed=INCR_SEED),
        MedallionCollection(id=TLP, title="TLP", seed=_unmarked_and_green()),
        MedallionCollection(id=BAD, title="Some invalid", seed=BAD_SEED),
        MedallionCollection(id=BUDGET, title="Budget", can_write=False, seed=BUDGET_SEED),
        MedallionCollection(id=VERSIONS, title="Versions", seed=VERSIONS_SEED),
        MedallionCollection(id=PATTERNS, title="Patterns", can_write=False, seed=_pattern_seed()),
    )
    with MedallionServer(tmp_path_factory.mktemp("pull"), collections=collections) as server:
        yield server


def test_pull_drains_every_page_and_checkpoints_the_last_date_added(
    partner: MedallionServer, world: World
) -> None:
    """1,010 objects in pages of 50 (§3.4 ``limit``, ``next``): all stored once, as the
    partner's contributions; checkpoint = the last ``X-TAXII-Date-Added-Last`` to the µs."""
    feed = make_feed(world, partner, BIG, page_size=50)
    run = _run(feed)

    assert run.outcome == SyncRun.SUCCESS
    assert (run.pages, run.fetched, run.stored, run.duplicates, run.quarantined) == (
        21,
        1010,
        1010,
        0,
        0,
    )
    assert sorted(stored_ids(feed)) == sorted(obj["id"] for _, obj in BIG_SEED)
    assert feed.checkpoint == BIG_SEED[-1][0]
    assert feed.checkpoint.microsecond == BIG_SEED[-1][0].microsecond != 0
    assert (run.checkpoint_before, run.checkpoint_after) == (None, feed.checkpoint)
    assert feed.remote_added_last == BIG_SEED[-1][0]
    assert feed.healthy and feed.last_success is not None
    assert (feed.lease_owner, feed.lease_until) == ("", None)
    assert feed.next_attempt == run.started + feed.interval
    sources = set(
        ObjectVersion.objects.filter(collection=feed.collection).values_list(
            "source_partner_id", flat=True
        )
    )
    assert sources == {feed.partner_id}


def test_pull_again_gets_only_the_objects_added_since(
    partner: MedallionServer, world: World
) -> None:
    """§3.4 ``added_after`` = checkpoint: a second run fetches exactly the new objects."""
    feed = make_feed(world, partner, INCR, page_size=25)
    first = _run(feed)
    assert (first.pages, first.stored) == (3, 60)
    checkpoint = feed.checkpoint
    idle = _run(feed)  # nothing new: no page at all
    assert (idle.outcome, idle.pages, idle.fetched) == (SyncRun.SUCCESS, 0, 0)
    assert idle.checkpoint_before == idle.checkpoint_after == checkpoint

    new = make_indicators(7, label="pull-incr-new")
    partner.add_objects(INCR, new)
    second = _run(feed)

    assert (second.fetched, second.stored, second.duplicates) == (7, 7, 0)
    assert second.checkpoint_before == checkpoint < feed.checkpoint
    header = partner.get(f"api1/collections/{INCR}/objects/").headers["X-TAXII-Date-Added-Last"]
    assert feed.checkpoint == parse_timestamp(header)
    assert len(stored_ids(feed)) == 67


def test_unmarked_objects_get_the_feed_default_tlp_without_being_rewritten(
    partner: MedallionServer, world: World
) -> None:
    """An object without a TLP marking gets the feed's default for policy only
    (DESIGN.md "unmarked data"); the JSON is stored as received."""
    feed = make_feed(world, partner, TLP, default_tlp=stix.TLP_RED)
    _run(feed)
    unmarked, green = (obj for _, obj in _unmarked_and_green())

    rows = dict(
        ObjectVersion.objects.filter(collection=feed.collection).values_list("stix_id", "tlp_rank")
    )
    assert rows == {unmarked["id"]: stix.TLP_RED, green["id"]: stix.TLP_GREEN}
    raw = ObjectVersion.objects.get(stix_id=unmarked["id"]).raw
    assert orjson.loads(raw) == unmarked
    assert "object_marking_refs" not in orjson.loads(raw)
    # acme consents to globex, so the collection default (AMBER) would flow; RED never does.
    view = policy.visible(
        partner=world.personas["globex"].user.partner,
        collection=world.collection,
        now=timezone.now(),
    )
    rows = view.window(added_after=None, after=None, limit=100, fields=("stix_id",))
    assert {row[2] for row in rows} == {green["id"]}


def test_invalid_objects_are_quarantined_with_reasons_and_can_be_released(
    partner: MedallionServer, world: World
) -> None:
    """Invalid objects are never stored as good nor dropped: quarantined once, with the
    reason and the JSON as received; released (after correction) through ingest."""
    feed = make_feed(world, partner, BAD)
    run = _run(feed)

    assert (run.fetched, run.stored, run.quarantined) == (6, 3, 3)
    good = [obj["id"] for _, obj in BAD_SEED if "pull-good" in obj["name"]]
    assert sorted(stored_ids(feed)) == sorted(good)
    items = {q.stix_id: q for q in Quarantine.objects.filter(feed=feed)}
    no_type, bad_id, backwards = (obj for _, obj in BAD_SEED if "pull-bad" in obj["name"])
    assert set(items) == {no_type["id"], bad_id["id"], backwards["id"]}
    assert "pattern_type" in items[no_type["id"]].reason
    assert "id must be" in items[bad_id["id"]].reason
    assert "modified must not be earlier" in items[backwards["id"]].reason
    assert orjson.loads(items[no_type["id"]].raw) == no_type
    assert {q.run_id for q in items.values()} == {run.pk}
    assert all(q.state == Quarantine.PENDING for q in items.values())

    # Pulled again from scratch: the same bad objects are not quarantined twice.
    feed.checkpoint = None
    feed.save(update_fields=["checkpoint"])
    again = _run(feed)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, 3)
    assert Quarantine.objects.filter(feed=feed).count() == 3

    item = items[no_type["id"]]
    assert not services.quarantine_release(item=item).ok
    assert item.state == Quarantine.PENDING
    item.raw = orjson.dumps({**no_type, "pattern_type": "stix"}).decode()
    item.save(update_fields=["raw"])
    outcome = services.quarantine_release(item=item)
    assert outcome.ok and outcome.stored
    assert item.state == Quarantine.RELEASED and item.decided_at is not None
    version = ObjectVersion.objects.get(stix_id=no_type["id"])
    assert version.source_partner_id == feed.partner_id
    assert version.tlp_rank == feed.default_tlp
    services.quarantine_discard(item=items[bad_id["id"]])
    items[bad_id["id"]].refresh_from_db()
    assert items[bad_id["id"]].state == Quarantine.DISCARDED


def test_rejected_credentials_mark_the_feed_unhealthy_without_retrying(
    partner: MedallionServer, world: World
) -> None:
    """401 (TAXII 2.1 §5.1) is permanent: no Celery retry, a long backoff, no checkpoint."""
    feed = make_feed(world, partner, INCR)
    services.feed_set_secret(feed=feed, secret="wrong-password")
    result = pull.run(feed_id=feed.pk, owner=runs.new_owner())
    feed.refresh_from_db()

    assert result.retry_in is None
    assert result.run is not None and result.run.outcome == SyncRun.FAILED
    assert "401" in result.run.error and "401" in feed.last_error
    assert feed.consecutive_failures == 1 and not feed.healthy
    assert feed.checkpoint is None and feed.lease_owner == ""
    assert feed.next_attempt is not None
    assert feed.next_attempt - timezone.now() > timedelta(seconds=runs.PERMANENT_BASE / 2 - 5)


def test_run_budget_stops_between_pages_and_the_next_run_continues(
    partner: MedallionServer, world: World
) -> None:
    """A run past its deadline ends after the page in hand (``partial``, due at once);
    the next run resumes from the checkpoint and completes the set."""
    feed = make_feed(world, partner, BUDGET, page_size=100)
    first = _run(feed, deadline=time.monotonic() - 1)
    assert (first.outcome, first.pages, first.stored) == (SyncRun.PARTIAL, 1, 100)
    assert feed.next_attempt is not None and feed.next_attempt <= timezone.now()
    assert feed.checkpoint == BUDGET_SEED[99][0] - timedelta(microseconds=1)

    rest = _run(feed)
    assert rest.outcome == SyncRun.SUCCESS
    assert (rest.fetched, rest.stored, rest.duplicates) == (151, 150, 1)
    assert sorted(stored_ids(feed)) == sorted(obj["id"] for _, obj in BUDGET_SEED)


def test_stopped_partner_backs_off_keeps_the_checkpoint_and_recovers(
    medallion_factory: Any, world: World
) -> None:
    """A partner that is down is transient: retry later with growing backoff and
    jitter, the feed unhealthy, the checkpoint where it was; back up, it catches up."""
    server = medallion_factory(MedallionCollection(id=INCR, title="Down", seed=INCR_SEED))
    feed = make_feed(world, server, INCR)
    assert _run(feed).stored == 60
    checkpoint = feed.checkpoint

    server.stop()
    delays = []
    for failures in (1, 2, 3):
        result = pull.run(feed_id=feed.pk, owner=runs.new_owner())
        feed.refresh_from_db()
        assert result.run is not None and result.run.outcome == SyncRun.FAILED
        assert result.retry_in is not None
        ceiling = runs.TRANSIENT_BASE * 2 ** (failures - 1)
        assert ceiling / 2 <= result.retry_in <= ceiling
        delays.append(result.retry_in)
        assert feed.consecutive_failures == failures and not feed.healthy
        assert "RemoteUnavailable" in feed.last_error
        assert feed.checkpoint == checkpoint and result.run.checkpoint_after == checkpoint
        assert feed.next_attempt is not None and feed.next_attempt > timezone.now() + timedelta(
            seconds=result.retry_in
        )
    assert delays[2] > delays[0]

    server.start()
    new = make_indicators(5, label="after-restart")
    server.add_objects(INCR, new)
    back = _run(feed)
    assert (back.outcome, back.fetched, back.stored) == (SyncRun.SUCCESS, 5, 5)
    assert feed.healthy and feed.consecutive_failures == 0
    assert "RemoteUnavailable" in feed.last_error  # history is kept
    assert sorted(stored_ids(feed)) == sorted(
        [obj["id"] for _, obj in INCR_SEED] + [obj["id"] for obj in new]
    )


def test_partner_killed_mid_pull_then_the_retried_run_ends_with_exactly_the_remote_set(
    medallion_factory: Any, world: World
) -> None:
    """SIGKILL of the partner after 5 of 16 pages: the run fails with 125 objects
    stored and the checkpoint just before the 125th's date_added; the retried run
    re-reads that one object (a duplicate) and stores the other 275."""
    remote = seed(400, "killed")
    server = medallion_factory(MedallionCollection(id=INCR, title="Killed", seed=remote))
    feed = make_feed(world, server, INCR, page_size=25)

    result = pull.run(
        feed_id=feed.pk, owner=runs.new_owner(), client_factory=KillAfterPages(server, 5)
    )
    feed.refresh_from_db()
    assert result.run is not None and result.run.outcome == SyncRun.FAILED
    assert result.retry_in is not None
    assert (result.run.pages, result.run.stored) == (5, 125)
    assert feed.checkpoint == remote[124][0] - timedelta(microseconds=1)
    assert len(stored_ids(feed)) == 125

    server.start()
    retried = _run(feed)
    assert retried.outcome == SyncRun.SUCCESS
    assert (retried.fetched, retried.stored, retried.duplicates) == (276, 275, 1)
    ids = stored_ids(feed)
    assert len(ids) == 400 and sorted(ids) == sorted(obj["id"] for _, obj in remote)
    assert feed.checkpoint == remote[-1][0]


def test_pulled_versions_record_feed_and_run(world: World, partner: MedallionServer) -> None:
    """Provenance: every pulled version names its feed and run (DESIGN.md "Sync")."""
    feed = make_feed(world, partner, TLP)
    run = _run(feed)
    origins = set(
        ObjectVersion.objects.filter(collection=feed.collection).values_list("origin", flat=True)
    )
    assert origins == {f"feed:{feed.pk}/run:{run.pk}"}


def _key(obj: Any) -> tuple[str, str]:
    return obj["id"], obj["modified"]


def stored_versions(feed: Feed) -> list[tuple[str, str]]:
    rows = ObjectVersion.objects.filter(collection=feed.collection).values_list(
        "stix_id", "version"
    )
    return [(sid, stix.format_version(version)) for sid, version in rows]


def _latest_flags_follow_modified(feed: Feed) -> bool:
    rows = ObjectVersion.objects.filter(collection=feed.collection).values_list(
        "stix_id", "version", "is_latest"
    )
    newest: dict[str, Any] = {}
    for sid, version, _ in rows:
        newest[sid] = max(version, newest.get(sid, version))
    return all(is_latest == (version == newest[sid]) for sid, version, is_latest in rows)


def test_pull_mirrors_every_version_the_partner_serves(
    partner: MedallionServer, world: World
) -> None:
    """TAXII 2.1 §3.4.1: without ``match[version]`` a server answers only the latest
    version of each id, so a feed asks for ``all``. 200 versions of 170 ids in pages
    of 7, several versions of one id and POSTs sharing one ``date_added`` on a page
    and across page boundaries: every version stored once; a second run stores
    nothing; versions added on the partner later (a newer one, one between two
    stored ones, a first one of a new id) come over exactly, no more."""
    assert len(VERSIONS_SEED) == 200
    feed = make_feed(world, partner, VERSIONS, page_size=7)
    first = _run(feed)

    assert first.outcome == SyncRun.SUCCESS
    assert (first.pages, first.fetched, first.stored, first.duplicates, first.quarantined) == (
        29,
        200,
        200,
        0,
        0,
    )
    assert sorted(stored_versions(feed)) == sorted(_key(obj) for _, obj in VERSIONS_SEED)
    assert feed.checkpoint == VERSIONS_SEED[-1][0]
    assert _latest_flags_follow_modified(feed)

    idle = _run(feed)
    assert (idle.outcome, idle.pages, idle.fetched, idle.stored) == (SyncRun.SUCCESS, 0, 0, 0)

    by_id: dict[str, list[dict[str, Any]]] = {}
    for _, obj in VERSIONS_SEED:
        by_id.setdefault(obj["id"], []).append(obj)
    three = next(v for v in by_id.values() if len(v) == 3)
    two_a, two_b = [v for v in by_id.values() if len(v) == 2][:2]
    one = next(v for v in by_id.values() if len(v) == 1)
    added = [
        {**three[-1], "modified": "2024-06-01T00:00:09.000Z", "name": "newer"},
        {**two_a[-1], "modified": "2024-06-01T00:00:08.000Z", "name": "newer"},
        {
            **two_b[0],
            "modified": _between(two_b[0]["modified"], two_b[1]["modified"]),
            "name": "between",
        },
        {**one[0], "modified": "2024-06-01T00:00:07.000Z", "name": "second"},
        *make_indicators(1, label="pull-versions-new"),
    ]
    partner.add_objects(VERSIONS, added)
    third = _run(feed)

    assert (third.outcome, third.fetched, third.stored, third.duplicates) == (
        SyncRun.SUCCESS,
        5,
        5,
        0,
    )
    assert len(stored_versions(feed)) == len(set(stored_versions(feed))) == 205
    assert set(stored_versions(feed)) == partner.versions(VERSIONS)
    assert _latest_flags_follow_modified(feed)


def _between(low: str, high: str) -> str:
    earlier, later = stix.parse_timestamp(low), stix.parse_timestamp(high)
    return stix.format_version(earlier + (later - earlier) / 2)


def test_partner_killed_mid_pull_of_versions_then_the_resumed_run_has_no_gap_or_duplicate(
    medallion_factory: Any, world: World
) -> None:
    """SIGKILL of the partner after 14 pages of 7 while a POST's versions straddle
    the boundary: the checkpoint stops one microsecond before that POST's
    ``date_added``, so the resumed run re-reads exactly its versions already
    stored (duplicates, not stored twice) and stores every other version."""
    remote = VERSIONS_SEED
    cut = 98
    boundary = remote[cut - 1][0]
    assert remote[cut][0] == boundary  # the POST at the cut spans two pages
    reread = sum(1 for added, _ in remote[:cut] if added == boundary)
    server = medallion_factory(MedallionCollection(id=VERSIONS, title="Killed", seed=remote))
    feed = make_feed(world, server, VERSIONS, page_size=7)

    result = pull.run(
        feed_id=feed.pk, owner=runs.new_owner(), client_factory=KillAfterPages(server, cut // 7)
    )
    feed.refresh_from_db()
    assert result.run is not None and result.run.outcome == SyncRun.FAILED
    assert "RemoteUnavailable" in feed.last_error
    assert (result.run.pages, result.run.stored) == (cut // 7, cut)
    assert feed.checkpoint == boundary - timedelta(microseconds=1)

    server.start()
    resumed = _run(feed)
    assert resumed.outcome == SyncRun.SUCCESS
    assert (resumed.fetched, resumed.stored, resumed.duplicates) == (
        len(remote) - cut + reread,
        len(remote) - cut,
        reread,
    )
    versions = stored_versions(feed)
    assert len(versions) == len(set(versions)) == len(remote)
    assert set(versions) == {_key(obj) for _, obj in remote} == server.versions(VERSIONS)
    assert feed.checkpoint == remote[-1][0]


def test_an_invalid_stix_pattern_is_quarantined_with_the_validators_message(
    partner: MedallionServer, world: World
) -> None:
    """STIX 2.1 §9: a ``stix`` pattern the OASIS validator rejects is quarantined with
    its message; the page's other objects (a sigma rule included, not parsed) are stored."""
    from stix2patterns.validator import run_validator

    feed = make_feed(world, partner, PATTERNS)
    run = _run(feed)
    assert (run.fetched, run.stored, run.quarantined) == (3, 2, 1)
    (item,) = Quarantine.objects.filter(feed=feed)
    bad = orjson.loads(item.raw)
    assert bad["pattern"] == "not a pattern"
    assert item.reason == "pattern: " + "; ".join(
        run_validator("not a pattern", stix_version="2.1")
    )
    assert sorted(stored_ids(feed)) == sorted(
        o["id"] for _, o in _pattern_seed() if o["id"] != bad["id"]
    )
