"""Sharing agreements, rule by rule, through the TAXII endpoints (DESIGN.md
"Sharing policy"; TAXII 2.1 §5.3-§5.8 for the endpoints that must agree).

Named partners: acme contributes and consents to globex; globex reads at
AMBER; initech reads indicators only at GREEN; wayne reads everything at RED
but has no consent from acme and denies malware; umbrella has a one-day
embargo; hooli's agreement has expired.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest

from intelshare import ingest, policy, services, stix
from intelshare import stixids as ids
from intelshare.models import Agreement, ApiRoot, Collection, Partner
from tests.conftest import Clock, TaxiiClient
from tests.factories import indicator, make_user, malware

GREEN, AMBER, STRICT, RED = ids.TLP2_GREEN, ids.TLP2_AMBER, ids.TLP2_AMBER_STRICT, ids.TLP2_RED


def _rel(n: int, source: str, target: str, **extra: Any) -> dict[str, Any]:
    obj = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.UUID(int=50_000 + n, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
    }
    obj.update(extra)
    return obj


def _report(n: int, refs: list[str], **extra: Any) -> dict[str, Any]:
    obj = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.UUID(int=60_000 + n, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "name": f"SYNTHETIC report {n}",
        "published": "2024-02-14T12:00:00.000Z",
        "object_refs": refs,
    }
    obj.update(extra)
    return obj


class Hub:
    def __init__(self) -> None:
        root = ApiRoot.objects.create(slug="intel", title="intel")
        self.coll = Collection.objects.create(
            api_root=root, title="llm", alias="llm", default_tlp=stix.TLP_AMBER
        )
        self.partners = {
            n: Partner.objects.create(name=n, slug=n)
            for n in ("acme", "globex", "initech", "wayne", "umbrella", "hooli")
        }
        self.clients = {
            n: TaxiiClient(make_user(f"{n}-user", partner=p).basic)
            for n, p in self.partners.items()
        }
        p = self.partners
        self.agreements = {
            "acme": services.agreement_create(
                partner=p["acme"],
                name="a",
                can_write=True,
                collections=[self.coll],
                tlp_ceiling=stix.TLP_AMBER,
                consents=[p["globex"]],
            ),
            "globex": services.agreement_create(
                partner=p["globex"], name="g", collections=[self.coll], tlp_ceiling=stix.TLP_AMBER
            ),
            "initech": services.agreement_create(
                partner=p["initech"],
                name="i",
                collections=[self.coll],
                tlp_ceiling=stix.TLP_GREEN,
                allowed_types=["indicator", "relationship"],
            ),
            "wayne": services.agreement_create(
                partner=p["wayne"],
                name="w",
                collections=[self.coll],
                tlp_ceiling=stix.TLP_RED,
                denied_types=["malware"],
            ),
            "umbrella": services.agreement_create(
                partner=p["umbrella"],
                name="u",
                collections=[self.coll],
                tlp_ceiling=stix.TLP_RED,
                embargo=timedelta(days=1),
            ),
        }
        hooli = services.agreement_create(
            partner=p["hooli"], name="h", collections=[self.coll], tlp_ceiling=stix.TLP_RED
        )
        Agreement.objects.filter(pk=hooli.pk).update(valid_until=hooli.valid_from)

    def path(self, suffix: str = "objects/") -> str:
        return f"/taxii2/intel/collections/{self.coll.pk}/{suffix}"

    def store(self, objects: list[dict[str, Any]], source: str | None = None) -> None:
        result = ingest.store(
            collection=self.coll,
            objects=objects,
            source_partner=self.partners[source] if source else None,
        )
        assert result.failed == 0, [o.message for o in result.outcomes]

    def pull(self, partner: str, **params: str) -> list[dict[str, Any]]:
        """Every object served to ``partner``, following ``next`` (§3.5)."""
        served: list[dict[str, Any]] = []
        query = {"limit": "2", **params}
        while True:
            response = self.clients[partner].get(self.path(), query)
            assert response.status_code == 200, response.content
            body = orjson.loads(response.content)
            served += body.get("objects", [])
            if not body.get("more"):
                return served
            query = {"limit": "2", **params, "next": body["next"]}

    def ids(self, partner: str, **params: str) -> set[str]:
        return {o["id"] for o in self.pull(partner, **params)}


@pytest.fixture
def hub(db: None, clock: Clock) -> Hub:
    return Hub()


def test_tlp_ceiling_and_default_for_unmarked(hub: Hub) -> None:
    """TLP ceiling: most restrictive marking decides; unmarked = collection default."""
    hub.store(
        [
            indicator(1, markings=[GREEN]),
            indicator(2, markings=[AMBER]),
            indicator(3, markings=[RED]),
            indicator(4),
            indicator(5, markings=[GREEN, RED]),
        ]
    )
    i = [indicator(n)["id"] for n in range(6)]
    assert hub.ids("globex") == {i[1], i[2], i[4]}
    assert hub.ids("initech") == {i[1]}
    assert hub.ids("wayne") == {i[1], i[2], i[3], i[4], i[5]}


def test_tlp1_markings_map_onto_tlp2(hub: Hub) -> None:
    """TLP 1.0 WHITE counts as CLEAR and AMBER as AMBER (STIX 2.1 §7.2.1.4)."""
    hub.store(
        [
            indicator(1, markings=[ids.TLP1_WHITE]),
            indicator(2, markings=[ids.TLP1_AMBER]),
            indicator(3, markings=[ids.TLP1_RED]),
        ]
    )
    assert hub.ids("initech") == {indicator(1)["id"]}
    assert hub.ids("globex") == {indicator(1)["id"], indicator(2)["id"]}


def test_originator_control(hub: Hub) -> None:
    """acme's GREEN flows to all; its AMBER only to globex (consent); its
    AMBER+STRICT and RED to nobody else; acme always sees its own."""
    hub.store(
        [
            indicator(1, markings=[GREEN]),
            indicator(2, markings=[AMBER]),
            indicator(3, markings=[STRICT]),
            indicator(4, markings=[RED]),
            indicator(5),
        ],
        source="acme",
    )
    i = [indicator(n)["id"] for n in range(6)]
    assert hub.ids("acme") == {i[1], i[2], i[3], i[4], i[5]}
    assert hub.ids("globex") == {i[1], i[2], i[5]}  # unmarked = AMBER, consented
    assert hub.ids("wayne") == {i[1]}  # RED ceiling but no consent
    assert hub.ids("initech") == {i[1]}


def test_type_allow_and_deny_lists(hub: Hub) -> None:
    hub.store([indicator(1, markings=[GREEN]), malware(1)])
    assert hub.ids("initech") == {indicator(1)["id"]}
    assert hub.ids("wayne") == {indicator(1)["id"]}
    assert hub.ids("globex") == {indicator(1)["id"], malware(1)["id"]}


def test_validity_window(hub: Hub, clock: Clock) -> None:
    """Outside the agreement's window: no access at all, 404 for the collection."""
    hub.store([indicator(1, markings=[GREEN])])
    client = hub.clients["hooli"]
    assert client.get(hub.path("")).status_code == 404
    assert client.get(hub.path()).status_code == 404
    assert orjson.loads(client.get("/taxii2/intel/collections/").content) == {}
    services.agreement_revoke(agreement=hub.agreements["globex"])
    assert hub.clients["globex"].get(hub.path()).status_code == 404  # next request


def test_embargo_delays_and_shifts_date_added(hub: Hub, clock: Clock) -> None:
    """A version reaches umbrella one day after it was added, dated a day later."""
    hub.store([indicator(1, markings=[GREEN])])
    assert hub.ids("umbrella") == set()
    clock.advance(hours=23)
    assert hub.ids("umbrella") == set()
    clock.advance(hours=2)
    response = hub.clients["umbrella"].get(hub.path("manifest/"))
    record = orjson.loads(response.content)["objects"][0]
    staff_record = orjson.loads(
        TaxiiClient(make_user("s", is_staff=True).basic).get(hub.path("manifest/")).content
    )["objects"][0]
    shifted = stix.parse_timestamp(staff_record["date_added"]) + timedelta(days=1)
    assert stix.parse_timestamp(record["date_added"]) == shifted
    assert response["X-TAXII-Date-Added-Last"] == record["date_added"]
    # added_after filters on the shifted date
    before = stix.format_timestamp(shifted - timedelta(seconds=1))
    assert hub.ids("umbrella", added_after=before) == {indicator(1)["id"]}
    assert hub.ids("umbrella", added_after=record["date_added"]) == set()


def test_widening_reveals_as_added_now(hub: Hub, clock: Clock) -> None:
    """A partner resuming from its last X-TAXII-Date-Added-Last receives what a
    widening newly reveals; narrowing hides at once."""
    hub.store([indicator(1, markings=[GREEN]), indicator(2, markings=[RED])])
    clock.advance(minutes=5)
    response = hub.clients["globex"].get(hub.path())
    checkpoint = response["X-TAXII-Date-Added-Last"]
    assert {o["id"] for o in orjson.loads(response.content)["objects"]} == {indicator(1)["id"]}
    clock.advance(minutes=5)
    revealed = services.agreement_update(
        agreement=hub.agreements["globex"], tlp_ceiling=stix.TLP_RED
    )
    assert revealed == 1
    assert hub.ids("globex", added_after=checkpoint) == {indicator(2)["id"]}
    services.agreement_update(agreement=hub.agreements["globex"], tlp_ceiling=stix.TLP_GREEN)
    assert hub.ids("globex") == {indicator(1)["id"]}


def test_new_consent_reveals_amber_contributions(hub: Hub, clock: Clock) -> None:
    hub.store([indicator(1, markings=[AMBER])], source="acme")
    response = hub.clients["wayne"].get(hub.path())
    assert orjson.loads(response.content) == {}
    clock.advance(minutes=1)
    services.agreement_update(
        agreement=hub.agreements["acme"], consents=[hub.partners["globex"], hub.partners["wayne"]]
    )
    assert hub.ids("wayne", added_after="2026-03-01T12:00:30.000000Z") == {indicator(1)["id"]}


def test_shorter_embargo_reveals(hub: Hub, clock: Clock) -> None:
    hub.store([indicator(1, markings=[GREEN])])
    clock.advance(hours=2)
    assert hub.ids("umbrella") == set()
    checkpoint = stix.format_timestamp(clock.value)
    services.agreement_update(agreement=hub.agreements["umbrella"], embargo=timedelta(hours=1))
    assert hub.ids("umbrella", added_after=checkpoint) == {indicator(1)["id"]}


def test_relationship_with_hidden_endpoint_is_withheld(hub: Hub) -> None:
    """References: an endpoint stored here but hidden withholds the relationship;
    an endpoint the hub does not store does not."""
    green, red = indicator(1, markings=[GREEN]), indicator(2, markings=[RED])
    elsewhere = f"malware--{uuid.UUID(int=99, version=4)}"
    hub.store(
        [
            green,
            red,
            _rel(1, green["id"], red["id"], object_marking_refs=[GREEN]),
            _rel(2, green["id"], elsewhere, object_marking_refs=[GREEN]),
        ]
    )
    assert hub.ids("globex", **{"match[type]": "relationship"}) == {_rel(2, "", "")["id"]}
    assert hub.ids("wayne", **{"match[type]": "relationship"}) == {
        _rel(1, "", "")["id"],
        _rel(2, "", "")["id"],
    }


def test_report_loses_hidden_members_or_is_withheld(hub: Hub) -> None:
    """References: containers are served without hidden members (a modified copy,
    README caveat), and withheld when none remain."""
    green, red = indicator(1, markings=[GREEN]), indicator(2, markings=[RED])
    mixed = _report(1, [green["id"], red["id"]], object_marking_refs=[GREEN])
    only_red = _report(2, [red["id"]], object_marking_refs=[GREEN])
    hub.store([green, red, mixed, only_red])
    served = hub.pull("globex", **{"match[type]": "report"})
    assert [(o["id"], o["object_refs"]) for o in served] == [(mixed["id"], [green["id"]])]
    full = hub.pull("wayne", **{"match[type]": "report"})
    assert {o["id"]: o["object_refs"] for o in full} == {
        mixed["id"]: mixed["object_refs"],
        only_red["id"]: only_red["object_refs"],
    }


def test_granular_markings_withhold_or_redact(hub: Hub) -> None:
    """A property marked above the ceiling withholds the version, or in redact mode
    removes the property; a marked required property withholds it anyway."""
    marked = indicator(
        1,
        markings=[GREEN],
        description="SYNTHETIC analyst notes",
        granular_markings=[{"marking_ref": RED, "selectors": ["description"]}],
    )
    required = indicator(
        2, markings=[GREEN], granular_markings=[{"marking_ref": RED, "selectors": ["pattern"]}]
    )
    hub.store([marked, required])
    assert hub.ids("globex") == set()
    services.agreement_update(agreement=hub.agreements["globex"], granular_mode=Agreement.REDACT)
    served = hub.pull("globex")
    assert [o["id"] for o in served] == [marked["id"]]
    assert "description" not in served[0] and "granular_markings" not in served[0]
    assert served[0]["pattern"] == marked["pattern"]
    wayne = {o["id"]: o for o in hub.pull("wayne")}
    assert wayne[marked["id"]]["description"] == "SYNTHETIC analyst notes"


def test_latest_means_newest_visible_version(hub: Hub) -> None:
    """match[version]=last is the newest version this partner may see; versions and
    manifest list only visible versions (§3.4.1, §5.3, §5.8)."""
    hub.store([indicator(1, version=0, markings=[GREEN]), indicator(1, version=9, markings=[RED])])
    oid = indicator(1)["id"]
    served = hub.pull("globex")
    assert [(o["id"], o["modified"]) for o in served] == [(oid, indicator(1)["modified"])]
    client = hub.clients["globex"]
    versions = orjson.loads(client.get(hub.path(f"objects/{oid}/versions/")).content)
    assert versions["versions"] == [indicator(1)["modified"]]
    manifest = orjson.loads(client.get(hub.path("manifest/"), {"match[version]": "all"}).content)
    assert [r["version"] for r in manifest["objects"]] == [indicator(1)["modified"]]


def test_hidden_means_absent(hub: Hub) -> None:
    """A version the partner may not see answers exactly like one that never existed."""
    hub.store([indicator(1, markings=[RED])])
    client = hub.clients["globex"]
    hidden = client.get(hub.path(f"objects/{indicator(1)['id']}/"))
    missing = client.get(hub.path(f"objects/{indicator(77)['id']}/"))
    assert hidden.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in orjson.loads(r.content).items() if k != "error_id"}  # noqa: E731
    assert strip(hidden) == strip(missing)
    for suffix in (f"objects/{indicator(1)['id']}/versions/",):
        assert client.get(hub.path(suffix)).status_code == 404


def test_tlp_marking_definitions_are_served_to_readers(hub: Hub) -> None:
    """Marking definitions are served to everyone who can read the collection."""
    from intelshare.stixids import tlp2_marking

    hub.store([tlp2_marking("red"), indicator(1, markings=[GREEN])])
    assert hub.ids("initech") == {indicator(1)["id"], RED}  # despite its type list
    assert RED in hub.ids("globex")


def test_explain_names_the_deciding_rule(hub: Hub) -> None:
    hub.store([indicator(1, markings=[RED]), indicator(2, markings=[AMBER])], source="acme")
    assert [
        e.decision.rule
        for e in policy.explain(partner=hub.partners["globex"], stix_id=indicator(1)["id"])
    ] == ["tlp-ceiling"]
    assert [
        e.decision.rule
        for e in policy.explain(partner=hub.partners["wayne"], stix_id=indicator(2)["id"])
    ] == ["originator-control"]
    assert [
        e.decision
        for e in policy.explain(partner=hub.partners["globex"], stix_id=indicator(2)["id"])
    ] == [policy.Decision(True, "shared")]


def test_explain_command(hub: Hub) -> None:
    import io

    from django.core.management import CommandError, call_command

    hub.store([indicator(1, markings=[RED])])
    out = io.StringIO()
    call_command("explain", "globex", indicator(1)["id"], stdout=out)
    assert out.getvalue().split()[2:] == ["withheld", "tlp-ceiling"]
    with pytest.raises(CommandError, match="no partner"):
        call_command("explain", "nobody", indicator(1)["id"])
    with pytest.raises(CommandError, match="no stored version"):
        call_command("explain", "globex", indicator(9)["id"])


# --- widening re-sends what grew (the partner's clock, docs/sharing-policy.md) --------

CLEAR = ids.TLP2_CLEAR
CONTAINER_PROPERTIES: dict[str, dict[str, Any]] = {
    "report": {"name": "SYNTHETIC report", "published": "2024-02-14T12:00:00.000Z"},
    "grouping": {"context": "suspicious-activity"},
    "note": {"content": "SYNTHETIC analyst note"},
    "opinion": {"opinion": "agree"},
}


def _container(kind: str, refs: list[str], **extra: Any) -> dict[str, Any]:
    obj = {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.UUID(int=70_000, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "object_refs": refs,
        **CONTAINER_PROPERTIES[kind],
    }
    obj.update(extra)
    return obj


def _bravo(hub: Hub, **fields: Any) -> Agreement:
    """Partner bravo: every type, GREEN unless told otherwise."""
    partner = Partner.objects.create(name="bravo", slug="bravo")
    hub.partners["bravo"] = partner
    hub.clients["bravo"] = TaxiiClient(make_user("bravo-user", partner=partner).basic)
    fields.setdefault("tlp_ceiling", stix.TLP_GREEN)
    return services.agreement_create(partner=partner, name="b", collections=[hub.coll], **fields)


def _resume(
    hub: Hub, partner: str, checkpoint: str, limit: str = "1"
) -> tuple[list[dict[str, Any]], str]:
    """An incremental pull from ``checkpoint`` with pages of ``limit`` (§3.4.2, §3.5):
    the objects in order and the new X-TAXII-Date-Added-Last."""
    served: list[dict[str, Any]] = []
    query = {"limit": limit, "added_after": checkpoint, "match[version]": "all"}
    while True:
        response = hub.clients[partner].get(hub.path(), query)
        assert response.status_code == 200, response.content
        body = orjson.loads(response.content)
        served += body.get("objects", [])
        checkpoint = response.get("X-TAXII-Date-Added-Last", checkpoint)
        if not body.get("more"):
            return served, checkpoint
        query = {"limit": limit, "added_after": checkpoint, "match[version]": "all"}


def _first_pull(hub: Hub, partner: str) -> tuple[list[dict[str, Any]], str]:
    return _resume(hub, partner, "2000-01-01T00:00:00.000Z", limit="2")


@pytest.mark.parametrize("kind", sorted(CONTAINER_PROPERTIES))
def test_widening_resends_a_container_whose_visible_members_grew(
    hub: Hub, clock: Clock, kind: str
) -> None:
    """bravo (GREEN) holds a CLEAR container of [1 CLEAR, 3 AMBER, 4 RED] served as [1];
    raising its ceiling to AMBER re-sends the container, now [1, 3], once, beside
    indicator 3, to a puller resuming from its X-TAXII-Date-Added-Last (§3.4.2)."""
    bravo = _bravo(hub)
    one, three, four = (
        indicator(1, markings=[CLEAR]),
        indicator(3, markings=[AMBER]),
        indicator(4, markings=[RED]),
    )
    container = _container(kind, [one["id"], three["id"], four["id"]], object_marking_refs=[CLEAR])
    hub.store([one, three, four, container])
    clock.advance(minutes=5)
    served, checkpoint = _first_pull(hub, "bravo")
    assert {o["id"]: o.get("object_refs") for o in served} == {
        one["id"]: None,
        container["id"]: [one["id"]],
    }
    clock.advance(minutes=5)
    services.agreement_update(agreement=bravo, tlp_ceiling=stix.TLP_AMBER)
    resumed, checkpoint = _resume(hub, "bravo", checkpoint)
    assert sorted(o["id"] for o in resumed) == sorted([three["id"], container["id"]])
    got = next(o for o in resumed if o["id"] == container["id"])
    assert got["object_refs"] == [one["id"], three["id"]]
    assert got == next(o for o in hub.pull("bravo") if o["id"] == container["id"])
    assert _resume(hub, "bravo", checkpoint)[0] == []


def test_widening_reveals_relationships_and_sightings_of_revealed_endpoints(
    hub: Hub, clock: Clock
) -> None:
    """A relationship or sighting withheld for a hidden endpoint is revealed when the
    endpoint becomes visible."""
    bravo = _bravo(hub)
    green, amber = indicator(1, markings=[GREEN]), indicator(2, markings=[AMBER])
    rel = _rel(1, green["id"], amber["id"], object_marking_refs=[GREEN])
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.UUID(int=80_000, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "sighting_of_ref": amber["id"],
        "object_marking_refs": [GREEN],
    }
    hub.store([green, amber, rel, sighting])
    clock.advance(minutes=5)
    served, checkpoint = _first_pull(hub, "bravo")
    assert [o["id"] for o in served] == [green["id"]]
    clock.advance(minutes=5)
    services.agreement_update(agreement=bravo, tlp_ceiling=stix.TLP_AMBER)
    resumed, _ = _resume(hub, "bravo", checkpoint)
    assert sorted(o["id"] for o in resumed) == sorted([amber["id"], rel["id"], sighting["id"]])


def test_widening_resends_versions_whose_redaction_shrank(hub: Hub, clock: Clock) -> None:
    """In redact mode a higher ceiling removes fewer properties: the version is served
    again in its larger form; a change that removes the same markings re-sends nothing."""
    bravo = _bravo(hub, granular_mode=Agreement.REDACT)
    marked = indicator(
        1,
        markings=[GREEN],
        description="SYNTHETIC analyst notes",
        granular_markings=[
            {"marking_ref": AMBER, "selectors": ["description"]},
            {"marking_ref": RED, "selectors": ["name"]},
        ],
    )
    hub.store([marked])
    clock.advance(minutes=5)
    served, checkpoint = _first_pull(hub, "bravo")
    assert "description" not in served[0] and "name" not in served[0]
    clock.advance(minutes=5)
    services.agreement_update(agreement=bravo, tlp_ceiling=stix.TLP_AMBER)
    resumed, checkpoint = _resume(hub, "bravo", checkpoint)
    assert len(resumed) == 1 and resumed[0]["description"] == "SYNTHETIC analyst notes"
    assert "name" not in resumed[0]
    assert resumed[0]["granular_markings"] == marked["granular_markings"][:1]
    clock.advance(minutes=5)
    # AMBER+STRICT removes what AMBER removed: the served form is the same.
    assert services.agreement_update(agreement=bravo, tlp_ceiling=stix.TLP_AMBER_STRICT) == 0
    assert _resume(hub, "bravo", checkpoint)[0] == []
    clock.advance(minutes=5)
    services.agreement_update(agreement=bravo, tlp_ceiling=stix.TLP_RED)
    resumed, _ = _resume(hub, "bravo", checkpoint)
    assert resumed == [marked]


def test_narrowing_then_widening_keeps_the_puller_current(hub: Hub, clock: Clock) -> None:
    """A narrowing that shrinks a container still served re-sends its smaller form; the
    widening after it re-sends the larger one (and the member again)."""
    bravo = _bravo(hub, tlp_ceiling=stix.TLP_AMBER)
    one, three = indicator(1, markings=[CLEAR]), indicator(3, markings=[AMBER])
    report = _report(1, [one["id"], three["id"]], object_marking_refs=[CLEAR])
    hub.store([one, three, report])
    clock.advance(minutes=5)
    served, checkpoint = _first_pull(hub, "bravo")
    assert len(served) == 3
    for ceiling, refs, also in (
        (stix.TLP_GREEN, [one["id"]], []),
        (stix.TLP_AMBER, [one["id"], three["id"]], [three["id"]]),
        (stix.TLP_GREEN, [one["id"]], []),
    ):
        clock.advance(minutes=5)
        services.agreement_update(agreement=bravo, tlp_ceiling=ceiling)
        resumed, checkpoint = _resume(hub, "bravo", checkpoint)
        assert sorted(o["id"] for o in resumed) == sorted([report["id"], *also])
        assert next(o for o in resumed if o["id"] == report["id"])["object_refs"] == refs
