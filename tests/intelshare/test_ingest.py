"""The one write path: versions, latest flags, duplicates, date_added order."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import orjson
import pytest
from django.db import connection

from intelshare import ingest, stix
from intelshare.models import ObjectVersion
from tests.factories import TLP2_GREEN, TLP2_RED, World, indicator


def test_versions_and_latest_flag(world: World) -> None:
    """One row per version; exactly the newest version carries is_latest."""
    ingest.store(collection=world.collection, objects=[indicator(1, version=5)])
    ingest.store(
        collection=world.collection, objects=[indicator(1, version=1), indicator(1, version=9)]
    )
    rows = ObjectVersion.objects.order_by("version").values_list("is_latest", flat=True)
    assert list(rows) == [False, False, True]


def test_out_of_order_older_version_keeps_latest(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1, version=9)])
    ingest.store(collection=world.collection, objects=[indicator(1, version=2)])
    latest = ObjectVersion.objects.get(is_latest=True)
    assert latest.version == stix.parse_timestamp(indicator(1, version=9)["modified"])


def test_duplicates_in_one_envelope_and_across_calls(world: World) -> None:
    result = ingest.store(
        collection=world.collection, objects=[indicator(1), indicator(1), indicator(2)]
    )
    assert (result.new, result.duplicate, result.failed) == (2, 1, 0)
    again = ingest.store(collection=world.collection, objects=[indicator(2)])
    assert (again.new, again.duplicate) == (0, 1)


def test_same_object_in_two_collections_is_two_rows(world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1)])
    ingest.store(collection=world.other, objects=[indicator(1)])
    assert ObjectVersion.objects.count() == 2


def test_tlp_rank_is_most_restrictive_marking(world: World) -> None:
    """DESIGN.md "TLP ceiling": effective level = most restrictive object marking."""
    ingest.store(
        collection=world.collection,
        objects=[
            indicator(1, markings=[TLP2_GREEN, TLP2_RED]),
            indicator(2, markings=[TLP2_GREEN]),
            indicator(3),
        ],
    )
    ranks = dict(ObjectVersion.objects.values_list("stix_id", "tlp_rank"))
    assert ranks == {
        indicator(1)["id"]: stix.TLP_RED,
        indicator(2)["id"]: stix.TLP_GREEN,
        indicator(3)["id"]: None,
    }


def test_unversioned_sco_identical_resend_is_duplicate(world: World) -> None:
    """An SCO without created/modified: identical re-send is a duplicate, new content
    a new version (its version is the hub's date_added, TAXII §3.4.1)."""
    sco = {
        "type": "domain-name",
        "id": f"domain-name--{uuid.uuid4()}",
        "value": "secure-login-verify.example",
    }
    assert ingest.store(collection=world.collection, objects=[sco]).new == 1
    assert ingest.store(collection=world.collection, objects=[dict(sco)]).duplicate == 1
    changed = {**sco, "resolves_to_refs": [f"ipv4-addr--{uuid.uuid4()}"]}
    assert ingest.store(collection=world.collection, objects=[changed]).new == 1


def test_raw_json_is_kept_as_accepted(world: World) -> None:
    obj = indicator(1, x_custom_property={"nested": [1, 2.5, "ü"]})
    ingest.store(collection=world.collection, objects=[obj])
    assert orjson.loads(ObjectVersion.objects.get().raw) == obj


def test_date_added_strictly_increasing_within_collection(world: World) -> None:
    for n in range(5):
        ingest.store(collection=world.collection, objects=[indicator(n), indicator(n + 100)])
    stamps = list(ObjectVersion.objects.order_by("pk").values_list("date_added", flat=True))
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_incremental_reader_sees_every_version_once(
    taxii: Any, world: World
) -> None:
    """DESIGN.md "Storage": date_added grows in commit order, so a reader resuming
    from X-TAXII-Date-Added-Last (TAXII §3.5) gets every version exactly once
    while several writers commit concurrently."""
    writers, per_writer, batch = 4, 60, 3
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(w: int) -> None:
        try:
            for start in range(0, per_writer, batch):
                objs = [indicator(w * 1000 + n) for n in range(start, start + batch)]
                ingest.store(collection=world.collection, objects=objs)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    client = taxii("globex")
    path = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    received: list[str] = []
    params: dict[str, str] = {"limit": "7"}
    while True:
        done = not any(t.is_alive() for t in threads)
        response = client.get(path, params)
        assert response.status_code == 200
        body = orjson.loads(response.content)
        received += [o["id"] for o in body.get("objects", [])]
        if "X-TAXII-Date-Added-Last" in response:
            params = {"limit": "7", "added_after": response["X-TAXII-Date-Added-Last"]}
        elif done:
            break
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    expected = {indicator(w * 1000 + n)["id"] for w in range(writers) for n in range(per_writer)}
    assert len(received) == len(set(received)), "a version was served twice"
    assert set(received) == expected


def test_default_tlp_applies_to_unmarked_versions_only(world: World) -> None:
    """A feed's default TLP sets the policy level of unmarked versions; marked ones keep
    their own; the stored JSON is not rewritten."""
    ingest.store(
        collection=world.collection,
        default_tlp=stix.TLP_RED,
        objects=[indicator(1), indicator(2, markings=[TLP2_GREEN])],
    )
    ranks = dict(ObjectVersion.objects.values_list("stix_id", "tlp_rank"))
    assert ranks == {indicator(1)["id"]: stix.TLP_RED, indicator(2)["id"]: stix.TLP_GREEN}
    assert "object_marking_refs" not in orjson.loads(
        ObjectVersion.objects.get(stix_id=indicator(1)["id"]).raw
    )
