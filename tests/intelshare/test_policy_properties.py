"""Property-based proof of the sharing policy (DESIGN.md "Sharing policy").

Hypothesis draws random worlds — partners, agreements, versions with random
markings, sources, types, references and granular markings — and checks, for
every partner and every read endpoint (objects, object, versions, manifest;
TAXII 2.1 §5.3-§5.8), through pagination with tiny limits, that what is served
equals exactly what a plain-Python oracle of the rules allows. A second
property drives incremental pulls through agreement changes on a controllable
clock and checks that nothing is ever leaked and nothing visible is missed; a
third, that after any sequence of widenings and narrowings the last form an
incremental puller received of each version is the form a full pull serves.

The oracle below is written from DESIGN.md, independently of intelshare.policy.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelshare import ingest, policy, services, stix
from intelshare import stixids as ids
from intelshare.models import Agreement, ApiRoot, Collection, Grant, ObjectVersion, Partner
from intelshare.policy.rules import withholds_nothing
from tests.conftest import Clock, TaxiiClient
from tests.factories import make_user

PARTNERS = ("p0", "p1", "p2")
MARKS = [
    None,
    ids.TLP2_CLEAR,
    ids.TLP2_GREEN,
    ids.TLP2_AMBER,
    ids.TLP2_AMBER_STRICT,
    ids.TLP2_RED,
    ids.TLP1_WHITE,
    ids.TLP1_AMBER,
]
RANK = stix.TLP_MARKINGS
TYPES = ("indicator", "malware", "relationship", "report", "sighting")
ELSEWHERE = f"malware--{uuid.UUID(int=424242, version=4)}"  # never stored
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMBARGO = timedelta(hours=2)
# INTELSHARE_PROPERTY_EXAMPLES raises the number of worlds for a long soak.
SETTINGS = settings(
    max_examples=int(os.environ.get("INTELSHARE_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- worlds ---------------------------------------------------------------------------


@dataclass
class AgreementSpec:
    ceiling: int
    allowed: list[str] | None
    denied: list[str]
    embargo: bool
    redact: bool
    consents: list[str]
    active: bool
    can_read: bool


@dataclass
class VersionSpec:
    marking: str | None
    source: str | None
    granular: tuple[str, str] | None  # (marking id, selector)
    gap_minutes: int  # clock advance before storing it
    routed: str | None = None  # a partner's sighting: the partner it is routed to


@dataclass
class ObjectSpec:
    n: int
    type: str
    versions: list[VersionSpec]
    refs: list[int | None] = field(default_factory=list)  # indexes of objects; None = elsewhere


agreements_st = st.builds(
    AgreementSpec,
    ceiling=st.integers(0, 4),
    allowed=st.none() | st.lists(st.sampled_from(TYPES), unique=True),
    denied=st.lists(st.sampled_from(TYPES), unique=True, max_size=2),
    embargo=st.booleans(),
    redact=st.booleans(),
    consents=st.lists(st.sampled_from(PARTNERS), unique=True),
    active=st.booleans() | st.just(True),
    can_read=st.booleans() | st.just(True),
)
versions_st = st.lists(
    st.builds(
        VersionSpec,
        marking=st.sampled_from(MARKS),
        source=st.none() | st.sampled_from(PARTNERS),
        granular=st.none()
        | st.tuples(st.sampled_from(MARKS[1:]), st.sampled_from(["description", "pattern"])),
        gap_minutes=st.integers(0, 90),
        routed=st.none() | st.sampled_from(PARTNERS),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def worlds(
    draw: st.DrawFn, min_reports: int = 0
) -> tuple[int, dict[str, AgreementSpec], list[ObjectSpec], int]:
    default_tlp = draw(st.integers(0, 4))
    agreements = {p: draw(agreements_st) for p in PARTNERS}
    base = draw(
        st.lists(
            st.tuples(st.sampled_from(["indicator", "malware"]), versions_st),
            min_size=1,
            max_size=5,
        )
    )
    objects = [ObjectSpec(n, t, v) for n, (t, v) in enumerate(base)]
    targets = st.none() | st.integers(0, len(base) - 1)
    sizes = {"relationship": (2, 2), "report": (1, 3), "sighting": (1, 1)}
    for t, (low, high) in sizes.items():
        for _ in range(draw(st.integers(min_reports if t == "report" else 0, 2))):
            refs = draw(st.lists(targets, min_size=low, max_size=high))
            objects.append(ObjectSpec(len(objects), t, draw(versions_st), refs))
    final_gap = draw(st.integers(0, 240))
    return default_tlp, agreements, objects, final_gap


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _object_id(spec: ObjectSpec) -> str:
    return f"{spec.type}--{uuid.UUID(int=1000 + spec.n, version=4)}"


def _stix(spec: ObjectSpec, objects: list[ObjectSpec], k: int, v: VersionSpec) -> dict[str, Any]:
    created = T0 - timedelta(days=1)
    obj: dict[str, Any] = {
        "type": spec.type,
        "spec_version": "2.1",
        "id": _object_id(spec),
        "created": _stamp(created),
        "modified": _stamp(created + timedelta(seconds=k)),
    }
    refs = [ELSEWHERE if r is None else _object_id(objects[r]) for r in spec.refs]
    if spec.type == "indicator":
        obj.update(
            pattern="[domain-name:value = 'x.example']",
            pattern_type="stix",
            valid_from=obj["created"],
            description="SYNTHETIC",
        )
    elif spec.type == "malware":
        obj.update(name="SYNTHETIC", is_family=False, description="SYNTHETIC")
    elif spec.type == "relationship":
        obj.update(
            relationship_type="related-to",
            source_ref=refs[0],
            target_ref=refs[1],
            description="SYNTHETIC",
        )
    elif spec.type == "sighting":
        obj.update(sighting_of_ref=refs[0], count=1 + spec.n, description="SYNTHETIC")
    else:
        obj.update(
            name="SYNTHETIC",
            published=obj["created"],
            object_refs=list(dict.fromkeys(refs)),
            description="SYNTHETIC",
        )
    if v.marking:
        obj["object_marking_refs"] = [v.marking]
    if v.granular:
        marking, selector = v.granular
        if selector not in obj:
            selector = "description"
        obj["granular_markings"] = [{"marking_ref": marking, "selectors": [selector]}]
    return obj


@dataclass
class Stored:
    """One stored version as the oracle sees it."""

    obj: dict[str, Any]
    source: str | None
    date_added: datetime
    routed: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.obj["id"], self.obj["modified"]


class Oracle:
    """DESIGN.md's sharing rules, in plain Python over the stored versions."""

    def __init__(
        self, default_tlp: int, agreements: dict[str, AgreementSpec], stored: list[Stored]
    ) -> None:
        self.default_tlp, self.agreements, self.stored = default_tlp, agreements, stored
        self.by_id: dict[str, list[Stored]] = {}
        for s in stored:
            self.by_id.setdefault(s.obj["id"], []).append(s)

    def _tlp(self, obj: dict[str, Any]) -> int:
        ranks = [RANK[m] for m in obj.get("object_marking_refs", []) if m in RANK]
        return max(ranks) if ranks else self.default_tlp

    def _granular(self, obj: dict[str, Any], required_only: bool) -> int | None:
        required = {
            "type",
            "id",
            "spec_version",
            "created",
            "modified",
            *stix.REQUIRED.get(obj["type"], ()),
        }
        ranks = [
            RANK[g["marking_ref"]]
            for g in obj.get("granular_markings", [])
            if not required_only or any(s in required for s in g["selectors"])
        ]
        return max(ranks) if ranks else None

    def base(self, p: str, s: Stored, now: datetime) -> bool:
        a = self.agreements[p]
        if not (a.active and a.can_read):
            return False
        if s.source == p:
            return True
        tlp = self._tlp(s.obj)
        if tlp > a.ceiling:
            return False
        if s.source is not None and (
            tlp > stix.TLP_AMBER
            or (tlp == stix.TLP_AMBER and p not in self.agreements[s.source].consents)
        ):
            return False
        if s.obj["type"] == "sighting" and s.source is not None and s.routed != p:
            return False  # another partner's sighting reaches only whom it is routed to
        if a.allowed and s.obj["type"] not in a.allowed:  # empty or None: every type
            return False
        if s.obj["type"] in a.denied:
            return False
        if a.embargo and s.date_added + EMBARGO > now:
            return False
        granular = self._granular(s.obj, required_only=a.redact)
        return granular is None or granular <= a.ceiling

    def hidden(self, p: str, ref: str, now: datetime) -> bool:
        versions = self.by_id.get(ref)
        return bool(versions) and not any(self.base(p, s, now) for s in versions)

    def visible(self, p: str, s: Stored, now: datetime) -> bool:
        if not self.base(p, s, now):
            return False
        if s.source == p:
            return True
        obj = s.obj
        if obj["type"] == "relationship" and any(
            self.hidden(p, obj[k], now) for k in ("source_ref", "target_ref")
        ):
            return False
        if obj["type"] == "sighting" and self.hidden(p, obj["sighting_of_ref"], now):
            return False
        return not (
            obj["type"] == "report" and all(self.hidden(p, r, now) for r in obj["object_refs"])
        )

    def served(self, p: str, s: Stored, now: datetime) -> dict[str, Any]:
        """The JSON the partner receives: containers lose hidden members; in redact
        mode properties marked above the ceiling go."""
        obj = dict(s.obj)
        if s.source == p:
            return obj
        a = self.agreements[p]
        if obj["type"] == "report":
            obj["object_refs"] = [r for r in obj["object_refs"] if not self.hidden(p, r, now)]
        rank = self._granular(obj, required_only=False)
        if a.redact and rank is not None and rank > a.ceiling:
            for g in obj.pop("granular_markings"):
                for selector in g["selectors"]:
                    obj.pop(selector, None)
        return obj

    def visible_set(self, p: str, now: datetime) -> list[Stored]:
        return [s for s in self.stored if self.visible(p, s, now)]


# --- building a world in the hub ------------------------------------------------------


class Built:
    def __init__(
        self,
        default_tlp: int,
        agreements: dict[str, AgreementSpec],
        objects: list[ObjectSpec],
        clock: Clock,
    ) -> None:
        root = ApiRoot.objects.create(slug=f"r{uuid.uuid4().hex[:8]}", title="r")
        self.coll = Collection.objects.create(api_root=root, title="c", default_tlp=default_tlp)
        self.partners = {
            p: Partner.objects.create(name=f"{p}-{root.slug}", slug=f"{p}-{root.slug}")
            for p in PARTNERS
        }
        self.clients = {
            p: TaxiiClient(make_user(f"{p}-{root.slug}", partner=partner).basic)
            for p, partner in self.partners.items()
        }
        self.agreements: dict[str, Agreement] = {}
        for p, a in agreements.items():
            self.agreements[p] = services.agreement_create(
                partner=self.partners[p],
                name=p,
                collections=[self.coll],
                tlp_ceiling=a.ceiling,
                allowed_types=a.allowed,
                denied_types=a.denied,
                embargo=EMBARGO if a.embargo else timedelta(0),
                granular_mode=Agreement.REDACT if a.redact else Agreement.WITHHOLD,
                valid_from=T0 - timedelta(days=30),
            )
        for p, a in agreements.items():
            self.agreements[p].consents.set([self.partners[c] for c in a.consents if c != p])
            if not a.active:
                Agreement.objects.filter(pk=self.agreements[p].pk).update(
                    valid_until=T0 - timedelta(days=1)
                )
            if not a.can_read:
                Grant.objects.filter(agreement=self.agreements[p]).update(can_read=False)
        self.stored: list[Stored] = []
        self.clock = clock
        self.objects = objects

    def store(self, items: list[tuple[ObjectSpec, int, VersionSpec]]) -> None:
        for spec, k, v in items:
            self.clock.advance(minutes=v.gap_minutes)
            obj = _stix(spec, self.objects, k, v)
            routed = v.routed if spec.type == "sighting" and v.source else None
            result = ingest.store(
                collection=self.coll,
                objects=[obj],
                source_partner=self.partners[v.source] if v.source else None,
                routes={obj["id"]: self.partners[routed].pk} if routed else None,
            )
            assert result.failed == 0, result.outcomes
            added = ObjectVersion.objects.get(
                collection=self.coll,
                stix_id=obj["id"],
                version=stix.parse_timestamp(obj["modified"]),
            )
            self.stored.append(Stored(obj, v.source, added.date_added, routed))

    def path(self, suffix: str) -> str:
        return f"/taxii2/{self.coll.api_root.slug}/collections/{self.coll.pk}/{suffix}"

    def get(self, p: str, suffix: str, params: dict[str, str]) -> Any:
        return self.clients[p].get(self.path(suffix), params)

    def pull(
        self, p: str, suffix: str, params: dict[str, str], limit: int, key: str = "objects"
    ) -> tuple[list[Any], Any]:
        """Follow next to the end (§3.5); returns the items and the last response."""
        items: list[Any] = []
        query = {**params, "limit": str(limit)}
        for _ in range(500):
            response = self.get(p, suffix, query)
            assert response.status_code == 200, response.content
            body = orjson.loads(response.content)
            items += body.get(key, [])
            if not body.get("more"):
                return items, response
            query = {**params, "limit": str(limit), "next": body["next"]}
        raise AssertionError("pagination did not end")


def _all_items(objects: list[ObjectSpec]) -> list[tuple[ObjectSpec, int, VersionSpec]]:
    items = [(spec, k, v) for spec in objects for k, v in enumerate(spec.versions)]
    # Endpoints first, so references usually point at stored objects.
    return sorted(items, key=lambda i: (i[0].type in ("relationship", "report", "sighting"), i[1]))


@pytest.fixture
def fresh(db: None, clock: Clock) -> Clock:
    return clock


def _rolled_back() -> Any:
    class Rollback(Exception):
        pass

    class Context:
        def __enter__(self) -> None:
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            cache.clear()

        def __exit__(self, *exc: object) -> bool:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            return False

    return Context()


# --- property 1: every endpoint serves exactly what the oracle allows -----------------


def _stored_world(
    clock: Clock,
    default_tlp: int,
    agreements: dict[str, AgreementSpec],
    objects: list[ObjectSpec],
    final_gap: int,
) -> tuple[Built, Oracle, datetime]:
    """Every object of a drawn world stored from T0, the clock moved on by
    ``final_gap`` minutes, and the oracle of what each partner may see."""
    clock.value = T0
    built = Built(default_tlp, agreements, objects, clock)
    built.store(_all_items(objects))
    now = clock.advance(minutes=final_gap)
    return built, Oracle(default_tlp, agreements, built.stored), now


@SETTINGS
@given(world=worlds(), limit=st.integers(1, 3))
def test_served_equals_oracle_on_every_endpoint(fresh: Clock, world: Any, limit: int) -> None:
    default_tlp, agreement_specs, objects, final_gap = world
    with _rolled_back():
        built, oracle, now = _stored_world(fresh, default_tlp, agreement_specs, objects, final_gap)
        for p in PARTNERS:
            _check_partner(built, oracle, p, now, limit)


def _check_partner(built: Built, oracle: Oracle, p: str, now: datetime, limit: int) -> None:
    spec = oracle.agreements[p]
    if not spec.active or not spec.can_read:
        # outside validity, or no read and no write grant: the collection does not exist
        assert built.get(p, "objects/", {}).status_code == 404
        return
    visible = oracle.visible_set(p, now)
    shift = EMBARGO if spec.embargo else timedelta(0)
    # objects, every version, in pages (§5.4, §3.5)
    served, _ = built.pull(p, "objects/", {"match[version]": "all"}, limit)
    assert sorted(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) for o in served) == sorted(
        orjson.dumps(oracle.served(p, s, now), option=orjson.OPT_SORT_KEYS) for s in visible
    )
    # objects, default = newest visible version of each object (§3.4.1)
    newest: dict[str, str] = {}
    oldest: dict[str, str] = {}
    for s in visible:
        oid, version = s.key
        newest[oid] = max(newest.get(oid, version), version)
        oldest[oid] = min(oldest.get(oid, version), version)
    latest, _ = built.pull(p, "objects/", {}, limit)
    assert sorted((o["id"], o["modified"]) for o in latest) == sorted(newest.items())
    first, _ = built.pull(p, "objects/", {"match[version]": "first"}, limit)
    assert sorted((o["id"], o["modified"]) for o in first) == sorted(oldest.items())
    # manifest: one record per visible version, date_added in the partner's clock (§5.3)
    records, _ = built.pull(p, "manifest/", {"match[version]": "all"}, limit)
    assert sorted((r["id"], r["version"], r["date_added"]) for r in records) == sorted(
        (
            s.obj["id"],
            stix.format_version(stix.parse_timestamp(s.obj["modified"])),
            stix.format_timestamp(s.date_added + (timedelta(0) if s.source == p else shift)),
        )
        for s in visible
    )
    # object and versions endpoints: hidden means absent (§5.6, §5.8)
    for oid in oracle.by_id:
        mine = sorted(s.obj["modified"] for s in visible if s.obj["id"] == oid)
        response = built.get(p, f"objects/{oid}/", {"match[version]": "all"})
        versions = built.get(p, f"objects/{oid}/versions/", {})
        if not mine:
            assert response.status_code == versions.status_code == 404
            continue
        got = sorted(o["modified"] for o in orjson.loads(response.content)["objects"])
        assert got == mine
        assert sorted(orjson.loads(versions.content)["versions"]) == [
            stix.format_version(stix.parse_timestamp(m)) for m in mine
        ]
    # explain() and the SQL agree version by version
    for oid in oracle.by_id:
        decided = {
            e.version: e.decision.shared
            for e in policy.explain(partner=built.partners[p], stix_id=oid, now=now)
        }
        assert decided == {
            stix.format_version(stix.parse_timestamp(s.obj["modified"])): oracle.visible(p, s, now)
            for s in oracle.by_id[oid]
        }


@SETTINGS
@given(world=worlds(), lenient=st.sampled_from(["no", "rules", "rules and hub", "hub"]))
def test_rules_said_to_withhold_nothing_are_shown_every_stored_version(
    fresh: Clock, world: Any, lenient: str
) -> None:
    """``withholds_nothing`` over the collection's stored facts (raised by ingest)
    lets a partner's pages be read as staff read them: whenever it holds, the
    oracle shows that partner every stored version, and what is served is the
    oracle's on every endpoint. ``lenient`` makes it hold often: agreements without
    type rules or embargo ("hub": the ceiling as drawn; otherwise TLP:RED), and
    ("hub") only the hub's own versions."""
    default_tlp, agreement_specs, objects, final_gap = world
    if lenient != "no":
        agreement_specs = {
            p: replace(
                a,
                ceiling=a.ceiling if lenient == "hub" else 4,
                allowed=None,
                denied=[],
                embargo=False,
                active=True,
                can_read=True,
            )
            for p, a in agreement_specs.items()
        }
    if lenient.endswith("hub"):
        objects = [
            replace(spec, versions=[replace(v, source=None, routed=None) for v in spec.versions])
            for spec in objects
        ]
    with _rolled_back():
        built, oracle, now = _stored_world(fresh, default_tlp, agreement_specs, objects, final_gap)
        collection = Collection.objects.get(pk=built.coll.pk)
        for p in PARTNERS:
            rules = policy.compile_rules(
                partner_id=built.partners[p].pk, collection=collection, now=now
            )
            if rules is None or not withholds_nothing(rules, collection.facts):
                continue
            assert all(oracle.visible(p, s, now) for s in built.stored)
            _check_partner(built, oracle, p, now, 2)


# --- property 2: incremental pulls through agreement changes lose nothing -------------


change_st = st.one_of(
    st.tuples(st.just("ceiling"), st.integers(0, 4)),
    st.tuples(st.just("embargo"), st.booleans()),
    st.tuples(st.just("allowed"), st.none() | st.lists(st.sampled_from(TYPES), unique=True)),
    st.tuples(st.just("consent"), st.lists(st.sampled_from(PARTNERS), unique=True)),
    st.tuples(st.just("read"), st.booleans()),
    st.tuples(st.just("active"), st.booleans()),
    st.tuples(st.just("redact"), st.booleans()),
)
step_st = st.one_of(
    st.tuples(st.just("store"), st.integers(0, 20)),
    st.tuples(st.just("pull"), st.integers(1, 4)),
    st.tuples(st.just("change"), st.sampled_from(PARTNERS), change_st),
    st.tuples(st.just("wait"), st.integers(1, 200)),
)


def _apply_change(
    built: Built, specs: dict[str, AgreementSpec], who: str, change: tuple[str, Any]
) -> None:
    what, value = change
    agreement, spec = built.agreements[who], specs[who]
    if what == "ceiling":
        spec.ceiling = value
        services.agreement_update(agreement=agreement, tlp_ceiling=value)
    elif what == "embargo":
        spec.embargo = value
        services.agreement_update(agreement=agreement, embargo=EMBARGO if value else timedelta(0))
    elif what == "allowed":
        spec.allowed = value
        services.agreement_update(agreement=agreement, allowed_types=value)
    elif what == "consent":
        spec.consents = [c for c in value if c != who]
        services.agreement_update(
            agreement=agreement, consents=[built.partners[c] for c in spec.consents]
        )
    elif what == "redact":
        spec.redact = value
        services.agreement_update(
            agreement=agreement, granular_mode=Agreement.REDACT if value else Agreement.WITHHOLD
        )
    elif what == "read":
        spec.can_read = value
        services.grant_set(agreement=agreement, collection=built.coll, can_read=value)
    else:
        spec.active = value
        services.agreement_update(
            agreement=agreement, valid_until=None if value else built.clock.value
        )


@SETTINGS
@given(world=worlds(), steps=st.lists(step_st, min_size=3, max_size=14))
def test_incremental_pulls_through_changes_leak_nothing_and_miss_nothing(
    fresh: Clock, world: Any, steps: list[Any]
) -> None:
    """A puller resuming from X-TAXII-Date-Added-Last (§3.5) through widening,
    narrowing, embargo and consent changes: every served version was visible
    when served, and at the end it has received every visible version."""
    default_tlp, specs, objects, _ = world
    for spec in specs.values():
        spec.active = spec.can_read = True  # start with access; steps take it away
    with _rolled_back():
        fresh.value = T0
        built = Built(default_tlp, specs, objects, fresh)
        pending = _all_items(objects)
        checkpoints: dict[str, str | None] = dict.fromkeys(PARTNERS)
        received: dict[str, set[tuple[str, str]]] = {p: set() for p in PARTNERS}

        def pull(p: str, limit: int) -> None:
            if not (specs[p].active and specs[p].can_read):
                return
            params = {"added_after": checkpoints[p]} if checkpoints[p] else {}
            oracle = Oracle(default_tlp, specs, built.stored)
            allowed = {s.key for s in oracle.visible_set(p, fresh.value)}
            items, last = built.pull(p, "objects/", {**params, "match[version]": "all"}, limit)
            for obj in items:
                assert (obj["id"], obj["modified"]) in allowed, f"{p} was served a hidden version"
                received[p].add((obj["id"], obj["modified"]))
            if items:
                checkpoints[p] = last["X-TAXII-Date-Added-Last"]

        for step in steps:
            if step[0] == "store" and pending:
                take, pending = pending[: step[1] % 4 + 1], pending[step[1] % 4 + 1 :]
                built.store(take)
            elif step[0] == "pull":
                for p in PARTNERS:
                    pull(p, step[1])
            elif step[0] == "change":
                fresh.advance(seconds=1)
                _apply_change(built, specs, step[1], step[2])
            elif step[0] == "wait":
                fresh.advance(minutes=step[1])
        fresh.advance(seconds=1)
        oracle = Oracle(default_tlp, specs, built.stored)
        for p in PARTNERS:
            pull(p, 3)
            if specs[p].active and specs[p].can_read:
                missing = {s.key for s in oracle.visible_set(p, fresh.value)} - received[p]
                assert not missing, f"{p} never received {missing}"


# --- property 3: an incremental puller holds what a full pull serves ------------------


def _canonical(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


# Mostly the changes that reshape what stays visible: ceilings and redaction.
reshaping_st = st.one_of(
    st.tuples(st.just("ceiling"), st.integers(0, 4)),
    st.tuples(st.just("redact"), st.booleans()),
    change_st,
)


@settings(SETTINGS, max_examples=max(SETTINGS.max_examples // 2, 1))
@given(
    world=worlds(min_reports=1),
    steps=st.lists(
        st.tuples(st.sampled_from(PARTNERS), reshaping_st, st.integers(1, 3)),
        min_size=1,
        max_size=5,
    ),
)
def test_incremental_puller_holds_what_a_full_pull_serves(
    fresh: Clock, world: Any, steps: list[Any]
) -> None:
    """Every version stored and out of embargo, then widenings and narrowings, each
    followed by incremental pulls from X-TAXII-Date-Added-Last (§3.4.2, §3.5): the last
    form received of every version a full pull serves is that served form — a
    container's members and the properties redaction removes included."""
    default_tlp, specs, objects, _ = world
    for spec in specs.values():
        spec.active = spec.can_read = True
    with _rolled_back():
        fresh.value = T0
        built = Built(default_tlp, specs, objects, fresh)
        built.store(_all_items(objects))
        fresh.advance(seconds=EMBARGO.total_seconds() + 1)  # now only the changes move views
        checkpoints: dict[str, str | None] = dict.fromkeys(PARTNERS)
        held: dict[str, dict[tuple[str, str], bytes]] = {p: {} for p in PARTNERS}

        def pull(p: str, limit: int) -> None:
            if not (specs[p].active and specs[p].can_read):
                return
            params = {"added_after": checkpoints[p]} if checkpoints[p] else {}
            items, last = built.pull(p, "objects/", {**params, "match[version]": "all"}, limit)
            for obj in items:
                held[p][obj["id"], obj["modified"]] = _canonical(obj)
            if items:
                checkpoints[p] = last["X-TAXII-Date-Added-Last"]
            oracle = Oracle(default_tlp, specs, built.stored)
            served = {
                s.key: _canonical(oracle.served(p, s, fresh.value))
                for s in oracle.visible_set(p, fresh.value)
            }
            assert {k: held[p].get(k) for k in served} == served, f"{p} holds stale forms"

        for p in PARTNERS:
            pull(p, 3)
        for who, change, limit in steps:
            fresh.advance(seconds=1)
            _apply_change(built, specs, who, change)
            for p in PARTNERS:
                pull(p, limit)
        for p in PARTNERS:
            if specs[p].active and specs[p].can_read:
                full, _ = built.pull(p, "objects/", {"match[version]": "all"}, 3)
                assert {
                    (o["id"], o["modified"]): held[p][o["id"], o["modified"]] for o in full
                } == {(o["id"], o["modified"]): _canonical(o) for o in full}
