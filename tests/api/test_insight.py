"""Audit events, explain and preview through the management API.

The preview must be exactly what the partner pulls over TAXII, and its
withheld counts must name the rule of ``policy.decide`` for every version.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from intelshare import ingest, services, stix
from intelshare import stixids as ids
from intelshare.models import Agreement, Partner
from tests.conftest import TaxiiClient
from tests.factories import World, indicator, malware


def _relationship(source: str, target: str) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.UUID(int=77, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
    }


@pytest.fixture
def scenario(world: World) -> World:
    """globex reads at AMBER without malware; one version per withholding rule."""
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(
        agreement=globex, tlp_ceiling=stix.TLP_AMBER, denied_types=["malware"]
    )
    green_malware = {**malware(1), "object_marking_refs": [ids.TLP2_GREEN]}
    ingest.store(
        collection=world.collection,
        objects=[
            indicator(1),  # unmarked = AMBER: shared
            indicator(2, markings=[ids.TLP2_GREEN]),  # shared
            indicator(2, version=1, markings=[ids.TLP2_GREEN]),  # its second version: shared
            indicator(3, markings=[ids.TLP2_RED]),  # tlp-ceiling
            green_malware,  # types
            _relationship(indicator(2)["id"], indicator(3)["id"]),  # references
        ],
    )
    mallory = Partner.objects.get(slug="mallory")
    ingest.store(
        collection=world.collection,
        source_partner=mallory,
        objects=[indicator(4, markings=[ids.TLP2_AMBER])],
    )  # originator-control
    return world


def _taxii_versions(world: World, persona: str) -> set[tuple[str, str]]:
    client = TaxiiClient(world.personas[persona].basic)
    body = orjson.loads(
        client.get(
            f"/taxii2/intel/collections/{world.collection.pk}/objects/",
            {"match[version]": "all", "limit": "1000"},
        ).content
    )
    return {(o["id"], o["modified"]) for o in body.get("objects", [])}


def test_preview_is_what_the_partner_pulls(api: Any, scenario: World) -> None:
    response = api().get(
        "preview/", {"partner": "globex", "collection": str(scenario.collection.pk)}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    previewed = {(v["stix_id"], v["version"]) for v in body["versions"]}
    assert previewed == _taxii_versions(scenario, "globex")
    assert len(previewed) == 3 and body["next"] is None
    assert body["summary"] == {
        "total": 7,
        "shared": 3,
        "withheld": {"tlp-ceiling": 1, "originator-control": 1, "types": 1, "references": 1},
    }


def test_preview_pages_follow_the_cursor(api: Any, scenario: World) -> None:
    query = {"partner": "acme", "collection": str(scenario.collection.pk), "limit": 2}
    seen: list[tuple[str, str]] = []
    first = api().get("preview/", query).json()
    assert first["summary"]["shared"] == 6  # acme sees all but mallory's AMBER
    page = first
    while True:
        seen += [(v["stix_id"], v["version"]) for v in page["versions"]]
        assert len(page["versions"]) <= 2
        if page["next"] is None:
            break
        page = api().get("preview/", {**query, "cursor": page["next"]}).json()
        assert page["summary"] is None  # counted on the first page only
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == _taxii_versions(scenario, "acme")


def test_preview_dates_are_the_partners(api: Any, scenario: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, embargo=timedelta(0))
    body = (
        api()
        .get("preview/", {"partner": "globex", "collection": str(scenario.collection.pk)})
        .json()
    )
    dates = [v["date_added"] for v in body["versions"]]
    assert dates == sorted(dates)


def test_preview_embargo_and_no_grant(api: Any, scenario: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, embargo=timedelta(days=1))
    body = (
        api()
        .get("preview/", {"partner": "globex", "collection": str(scenario.collection.pk)})
        .json()
    )
    # Embargo is decided before references: the relationship counts there too.
    assert body["versions"] == [] and body["summary"]["withheld"]["embargo"] == 4
    none = (
        api()
        .get("preview/", {"partner": "mallory", "collection": str(scenario.collection.pk)})
        .json()
    )
    assert none["versions"] == [] and none["summary"]["withheld"] == {"grant": 7}


def test_preview_validation(api: Any, scenario: World) -> None:
    coll = str(scenario.collection.pk)
    assert set(api().get("preview/", {}).json()) == {"partner", "collection"}
    bad = api().get("preview/", {"partner": "globex", "collection": coll, "cursor": "forged"})
    assert bad.status_code == 400 and "cursor" in bad.json()
    acme_page = api().get("preview/", {"partner": "acme", "collection": coll, "limit": 1}).json()
    stolen = api().get(
        "preview/", {"partner": "globex", "collection": coll, "cursor": acme_page["next"]}
    )
    assert stolen.status_code == 400
    assert (
        api().get("preview/", {"partner": "globex", "collection": coll, "limit": 0}).status_code
        == 400
    )


def test_explain_names_the_rule_and_what_was_received(api: Any, scenario: World) -> None:
    client = TaxiiClient(scenario.personas["globex"].basic)
    client.get(f"/taxii2/intel/collections/{scenario.collection.pk}/objects/")
    red = api().get("explain/", {"partner": "globex", "stix_id": indicator(3)["id"]}).json()
    assert [(v["shared"], v["rule"]) for v in red["versions"]] == [(False, "tlp-ceiling")]
    assert red["received"] == []
    green = api().get("explain/", {"partner": "globex", "stix_id": indicator(2)["id"]}).json()
    assert [v["rule"] for v in green["versions"]] == ["shared", "shared"]
    # /objects/ serves the latest version by default.
    assert [r["version"] for r in green["received"]] == [indicator(2, version=1)["modified"]]
    missing = api().get("explain/", {"partner": "nobody", "stix_id": "x"})
    assert missing.status_code == 400 and "partner" in missing.json()


def test_audit_events_filters(api: Any, scenario: World) -> None:
    base = f"/taxii2/intel/collections/{scenario.collection.pk}"
    TaxiiClient(scenario.personas["globex"].basic).get(f"{base}/objects/")
    TaxiiClient(scenario.personas["acme"].basic).get(f"{base}/objects/{indicator(1)['id']}/")
    TaxiiClient(scenario.personas["acme"].basic).get("/taxii2/")
    staff = api()
    everything = staff.get("audit-events/").json()["results"]
    assert len(everything) == 3
    assert everything[0]["endpoint"] == "Discovery"  # newest first
    by_partner = staff.get("audit-events/", {"partner": "globex"}).json()["results"]
    assert [e["endpoint"] for e in by_partner] == ["Objects"]
    assert by_partner[0]["count"] == len(by_partner[0]["versions"]) == 2  # latest only
    by_coll = staff.get("audit-events/", {"collection": str(scenario.collection.pk)}).json()
    assert len(by_coll["results"]) == 2
    # The object was asked for by acme and served (in a list) to globex.
    about = staff.get("audit-events/", {"object_id": indicator(1)["id"]}).json()["results"]
    assert {e["partner"] for e in about} == {"acme", "globex"}
    assert staff.get("audit-events/", {"object_id": indicator(3)["id"]}).json()["results"] == []
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert staff.get("audit-events/", {"at_after": later}).json()["results"] == []
    assert len(staff.get("audit-events/", {"at_before": later}).json()["results"]) == 3
    one = staff.get(f"audit-events/{everything[0]['id']}/").json()
    assert one["method"] == "GET" and one["user"] == "acme-analyst"
    assert staff.get("audit-events/", {"at_after": "yesterday"}).status_code == 400
    # Offsets Python accepts and PostgreSQL refuses (found by schemathesis): read as UTC.
    far = staff.get("audit-events/", {"at_after": "0088-12-01T23:48:20-21:32"})
    assert far.status_code == 200 and len(far.json()["results"]) == 3
    assert staff.get("audit-events/", {"at_after": "0001-01-01T00:00:00+23:00"}).status_code == 400
