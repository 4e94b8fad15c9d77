"""Partners' sightings (STIX 2.1 §5.7 sighting): routed to the originator when the
sender shares them by name, otherwise kept on the hub; rolled up per sighted object
into a hub-authored sighting that whoever may see the sighted object receives; a
sighting of something the sender may not see is refused as if it did not exist."""

from __future__ import annotations

import os
import uuid
from typing import Any

import orjson
import pytest
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelshare import ingest, policy, services, sightings, stix
from intelshare.models import Agreement, ObjectVersion, Partner
from intelshare.stixids import HUB_IDENTITY_ID, TLP2_GREEN, TLP2_RED
from tests.factories import World, indicator

pytestmark = pytest.mark.django_db


def sighting(n: int, of: str, *, count: int = 1, version: int = 0, **extra: Any) -> dict[str, Any]:
    created = f"2024-03-01T00:00:{n % 60:02d}.000Z"
    obj = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.UUID(int=5000 + n, version=4)}",
        "created": created,
        "modified": f"2024-03-01T00:{version:02d}:{n % 60:02d}.000Z",
        "sighting_of_ref": of,
        "count": count,
        "first_seen": f"2024-02-{10 + n % 10:02d}T00:00:00.000Z",
        "last_seen": f"2024-02-{20 + n % 8:02d}T00:00:00.000Z",
        "object_marking_refs": [TLP2_GREEN],
    }
    obj.update(extra)
    return obj


class Hub:
    """acme contributed an indicator; beta and gamma write; globex only reads."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.acme = Partner.objects.get(slug="acme")
        self.globex = Partner.objects.get(slug="globex")
        self.partners = {"acme": self.acme, "globex": self.globex}
        for slug in ("beta", "gamma"):
            partner = Partner.objects.create(name=slug.title(), slug=slug)
            services.agreement_create(
                partner=partner,
                name=slug,
                collections=[world.collection],
                can_write=True,
                tlp_ceiling=stix.TLP_AMBER,
            )
            self.partners[slug] = partner
        self.target = indicator(1, markings=[TLP2_GREEN])
        self.red = indicator(2, markings=[TLP2_RED])
        result = ingest.store(
            collection=world.collection, objects=[self.target, self.red], source_partner=self.acme
        )
        assert result.failed == 0

    def mode(self, slug: str, mode: str) -> None:
        agreement = Agreement.objects.get(partner__slug=slug)
        services.agreement_update(agreement=agreement, sightings=mode)

    def send(self, slug: str, objects: list[dict[str, Any]]) -> ingest.StoreResult:
        return sightings.store(
            collection=self.world.collection, objects=objects, source_partner=self.partners[slug]
        )

    def seen_by(self, slug: str) -> dict[str, dict[str, Any]]:
        """The latest version of every sighting ``slug`` receives."""
        view = policy.visible(
            partner=self.partners[slug], collection=self.world.collection, now=timezone.now()
        )
        rows = view.window(
            Q(type="sighting"),
            added_after=None,
            after=None,
            limit=1000,
            fields=("raw",),
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            obj = stix_json(row[-1])
            if obj["id"] not in found or obj["modified"] > found[obj["id"]]["modified"]:
                found[obj["id"]] = obj
        return found


def stix_json(raw: str) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(raw))


@pytest.fixture
def hub(world: World) -> Hub:
    return Hub(world)


def test_named_sightings_reach_the_originator_only(hub: Hub) -> None:
    hub.mode("beta", Agreement.NAMED)
    sent = sighting(1, hub.target["id"], where_sighted_refs=[HUB_IDENTITY_ID])
    assert hub.send("beta", [sent]).new == 1

    assert sent["id"] in hub.seen_by("acme")  # the originator
    assert sent["id"] in hub.seen_by("beta")  # its own
    assert sent["id"] not in hub.seen_by("globex")
    assert sent["id"] not in hub.seen_by("gamma")
    explained = policy.explain(partner=hub.globex, stix_id=sent["id"])
    assert [e.decision.rule for e in explained] == ["sightings"]


def test_anonymous_sightings_are_only_counted_in_a_hub_rollup(hub: Hub) -> None:
    assert hub.send("beta", [sighting(1, hub.target["id"], count=3)]).new == 1
    assert hub.send("gamma", [sighting(2, hub.target["id"], count=4)]).new == 1

    rid = sightings.rollup_id(hub.world.collection, hub.target["id"])
    for reader in ("acme", "globex", "beta", "gamma"):
        received = hub.seen_by(reader)
        others = {k for k in received if k != rid} - {
            sighting(1 if reader == "beta" else 2, hub.target["id"])["id"]
        }
        assert not others, (reader, others)  # no partner's sighting but its own
        rollup = received[rid]
        assert rollup["count"] == 7 and rollup[sightings.PARTNERS_PROPERTY] == 2
        assert rollup["created_by_ref"] == HUB_IDENTITY_ID and rollup["summary"] is True
        assert "where_sighted_refs" not in rollup
        assert rollup["object_marking_refs"] == [TLP2_GREEN]
        assert (rollup["first_seen"], rollup["last_seen"]) == (
            "2024-02-11T00:00:00.000Z",
            "2024-02-22T00:00:00.000Z",
        )
        text = str(rollup).lower()
        assert "beta" not in text and "gamma" not in text


def test_a_rollup_gets_a_new_version_only_when_its_totals_change(hub: Hub) -> None:
    first = sighting(1, hub.target["id"], count=2)
    hub.send("beta", [first])
    rid = sightings.rollup_id(hub.world.collection, hub.target["id"])
    versions = ObjectVersion.objects.filter(stix_id=rid)
    assert versions.count() == 1
    assert hub.send("beta", [first]).duplicate == 1  # a re-send changes nothing
    assert versions.count() == 1
    hub.send("beta", [sighting(1, hub.target["id"], count=5, version=1)])  # a new version
    assert versions.count() == 2
    latest = stix_json(versions.get(is_latest=True).raw)
    assert latest["count"] == 5 and latest[sightings.PARTNERS_PROPERTY] == 1
    assert latest["created"] == stix_json(versions.earliest("version").raw)["created"]


def test_unshared_sightings_are_kept_and_not_counted(hub: Hub) -> None:
    hub.mode("beta", Agreement.UNSHARED)
    sent = sighting(1, hub.target["id"], count=9)
    assert hub.send("beta", [sent]).new == 1
    rid = sightings.rollup_id(hub.world.collection, hub.target["id"])
    assert not ObjectVersion.objects.filter(stix_id=rid).exists()
    assert set(hub.seen_by("acme")) == set()
    assert set(hub.seen_by("beta")) == {sent["id"]}


def test_a_sighting_of_what_the_sender_may_not_see_is_refused_as_unknown(hub: Hub) -> None:
    hidden, unknown = hub.red["id"], f"indicator--{uuid.UUID(int=99999, version=4)}"
    result = hub.send(
        "beta",
        [
            sighting(1, hidden),
            sighting(2, unknown),
            sighting(3, hub.target["id"]),
        ],
    )
    first, second, third = result.outcomes
    assert not first.ok and not second.ok and third.stored
    assert first.message.replace(hidden, "X") == second.message.replace(unknown, "X")
    assert not ObjectVersion.objects.filter(
        stix_id__in=[sighting(1, hidden)["id"], sighting(2, unknown)["id"]]
    ).exists()


def test_a_rollup_is_withheld_from_whoever_may_not_see_the_sighted_object(hub: Hub) -> None:
    agreement = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=agreement, denied_types=["indicator"])
    hub.send("beta", [sighting(1, hub.target["id"])])
    rid = sightings.rollup_id(hub.world.collection, hub.target["id"])
    assert rid in hub.seen_by("acme")
    assert rid not in hub.seen_by("globex")


MODES = (Agreement.NAMED, Agreement.ANONYMOUS, Agreement.UNSHARED)


@settings(
    max_examples=int(os.environ.get("INTELSHARE_PROPERTY_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    modes=st.tuples(st.sampled_from(MODES), st.sampled_from(MODES)),
    sent=st.lists(
        st.tuples(st.sampled_from(("beta", "gamma")), st.integers(0, 50)), min_size=1, max_size=5
    ),
)
def test_no_partner_learns_who_saw_what_unless_named(
    hub: Hub, modes: tuple[str, str], sent: list[tuple[str, int]]
) -> None:
    """Over random modes and sightings: the roll-up sums exactly the counted ones and
    names no one; each partner receives its own sightings, those routed to it by name
    (acme, the originator), the roll-up, and nothing else."""
    hub.mode("beta", modes[0])
    hub.mode("gamma", modes[1])
    mode = {"beta": modes[0], "gamma": modes[1]}
    target = indicator(uuid.uuid4().int % 10**6 + 10, markings=[TLP2_GREEN])
    ingest.store(collection=hub.world.collection, objects=[target], source_partner=hub.acme)
    mine: dict[str, set[str]] = {"beta": set(), "gamma": set()}
    for slug, count in sent:
        obj = sighting(0, target["id"], count=count, id=f"sighting--{uuid.uuid4()}")
        obj["where_sighted_refs"] = [f"identity--{uuid.uuid5(uuid.NAMESPACE_DNS, slug)}"]
        assert hub.send(slug, [obj]).new == 1
        mine[slug].add(obj["id"])
    counted = [(s, c) for s, c in sent if mode[s] != Agreement.UNSHARED]
    rid = sightings.rollup_id(hub.world.collection, target["id"])
    named = {i for s in mine for i in mine[s] if mode[s] == Agreement.NAMED}
    for reader in ("acme", "globex", "beta", "gamma"):
        received = {
            k: v for k, v in hub.seen_by(reader).items() if v.get("sighting_of_ref") == target["id"]
        }
        expected = set(mine.get(reader, set())) | (named if reader == "acme" else set())
        if counted:
            expected.add(rid)
        assert set(received) == expected, (reader, modes, sent)
        if counted:
            rollup = received[rid]
            assert rollup["count"] == sum(c for _, c in counted)
            assert rollup[sightings.PARTNERS_PROPERTY] == len({s for s, _ in counted})
            text = orjson.dumps(rollup).decode().lower()
            assert "where_sighted_refs" not in text
            assert all(f"{uuid.uuid5(uuid.NAMESPACE_DNS, s)}" not in text for s in mine)
