"""API roots, collections and agreements through the management API; writes go
through intelshare.services, so widenings are recorded (DESIGN.md "widening")."""

from __future__ import annotations

from typing import Any

import orjson

from intelshare import ingest, stix
from intelshare.models import Agreement, Collection, Grant, Reveal
from tests.conftest import TaxiiClient
from tests.factories import TLP2_RED, World, indicator, malware


def test_api_root_crud(api: Any) -> None:
    staff = api()
    created = staff.post("api-roots/", {"slug": "research", "title": "Research"})
    assert created.status_code == 201, created.content
    assert created.json()["max_content_length"] == 20 * 1024 * 1024
    assert staff.patch("api-roots/research/", {"title": "R&D"}).json()["title"] == "R&D"
    second_default = staff.patch("api-roots/research/", {"is_default": True})
    assert second_default.status_code == 400 and "is_default" in second_default.json()
    assert staff.delete("api-roots/research/").status_code == 204
    in_use = staff.delete("api-roots/intel/")
    assert in_use.status_code == 409 and "collections" in in_use.json()["detail"]


def test_collection_crud(api: Any, world: World) -> None:
    staff = api()
    created = staff.post(
        "collections/",
        {"api_root": "intel", "title": "Jailbreaks", "alias": "jailbreaks", "default_tlp": "green"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["default_tlp"] == "green"
    assert body["media_types"] == ["application/stix+json;version=2.1"]
    clash = staff.post("collections/", {"api_root": "intel", "title": "x", "alias": "jailbreaks"})
    assert clash.status_code == 400 and "alias" in clash.json()
    bad = staff.post("collections/", {"api_root": "nope", "title": "x", "default_tlp": "pink"})
    assert set(bad.json()) == {"api_root", "default_tlp"}
    listed = staff.get("collections/", {"api_root": "intel", "ordering": "title"}).json()
    assert [c["alias"] for c in listed["results"]] == ["jailbreaks", "llm-misuse", "internal"]
    assert staff.delete(f"collections/{body['id']}/").status_code == 204
    assert staff.get("collections/not-a-uuid/").status_code == 404


def test_collection_with_versions_is_not_deleted(api: Any, world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1)])
    response = api().delete(f"collections/{world.collection.pk}/")
    assert response.status_code == 409
    assert Collection.objects.filter(pk=world.collection.pk).exists()


def test_lowering_default_tlp_is_a_recorded_widening(api: Any, world: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    api().patch(f"agreements/{globex.pk}/", {"tlp_ceiling": "green"})
    ingest.store(collection=world.collection, objects=[indicator(1)])  # unmarked: AMBER
    assert not Reveal.objects.exists()
    response = api().patch(f"collections/{world.collection.pk}/", {"default_tlp": "green"})
    assert response.status_code == 200 and response.json()["default_tlp"] == "green"
    assert Reveal.objects.filter(grant__partner__slug="globex").count() == 1


def _agreement(partner: str = "mallory", **extra: Any) -> dict[str, Any]:
    body = {
        "partner": partner,
        "name": "mallory 2026",
        "tlp_ceiling": "amber",
        "allowed_types": ["indicator", "malware"],
        "denied_types": ["malware"],
        "embargo": 3600,
        "granular_mode": "redact",
        "rate_limit": 60,
        "valid_until": "2099-01-01T00:00:00Z",
    }
    body.update(extra)
    return body


def test_agreement_with_every_rule(api: Any, world: World) -> None:
    staff = api()
    created = staff.post(
        "agreements/",
        _agreement(
            consents=["globex"],
            grants=[{"collection": str(world.collection.pk), "can_write": True}],
        ),
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tlp_ceiling"] == "amber" and body["embargo"] == 3600
    assert body["allowed_types"] == ["indicator", "malware"]
    assert body["denied_types"] == ["malware"] and body["granular_mode"] == "redact"
    assert body["consents"] == ["globex"] and body["rate_limit"] == 60
    assert body["grants"] == [
        {"collection": str(world.collection.pk), "can_read": True, "can_write": True}
    ]
    agreement = Agreement.objects.get(pk=body["id"])
    assert agreement.embargo.total_seconds() == 3600
    assert Grant.objects.get(agreement=agreement).partner.slug == "mallory"
    mallory = TaxiiClient(world.personas["mallory"].basic)
    assert mallory.get(f"/taxii2/intel/collections/{world.collection.pk}/").status_code == 200
    assert staff.get("agreements/", {"partner": "mallory"}).json()["count"] == 1
    by_coll = staff.get("agreements/", {"collection": str(world.collection.pk)}).json()
    assert {a["partner"] for a in by_coll["results"]} == {"acme", "globex", "mallory"}


def test_agreement_validation(api: Any, world: World) -> None:
    staff = api()
    coll = str(world.collection.pk)
    cases = {
        "valid_until": _agreement(
            valid_from="2030-01-01T00:00:00Z", valid_until="2029-01-01T00:00:00Z"
        ),
        "tlp_ceiling": _agreement(tlp_ceiling="ultraviolet"),
        "allowed_types": _agreement(allowed_types=["Not A Type"]),
        "embargo": _agreement(embargo=-1),
        "consents": _agreement(consents=["mallory"]),
        "grants": _agreement(grants=[{"collection": coll}, {"collection": coll}]),
        "granular_mode": _agreement(granular_mode="shred"),
        "partner": _agreement(partner="nobody"),
    }
    for field, body in cases.items():
        response = staff.post("agreements/", body)
        assert response.status_code == 400, field
        assert field in response.json(), (field, response.json())
    # acme already holds a grant on the collection under its own agreement.
    clash = staff.post("agreements/", _agreement(partner="acme", grants=[{"collection": coll}]))
    assert clash.status_code == 400 and "one set of rules" in clash.json()["grants"][0]
    assert Agreement.objects.filter(partner__slug="mallory").count() == 0


def test_widening_through_the_api_is_recorded(api: Any, world: World) -> None:
    ingest.store(
        collection=world.collection, objects=[indicator(1, markings=[TLP2_RED]), malware(1)]
    )
    globex = Agreement.objects.get(partner__slug="globex")
    staff = api()
    staff.patch(f"agreements/{globex.pk}/", {"tlp_ceiling": "green", "denied_types": ["malware"]})
    assert not Reveal.objects.exists()  # narrowing records nothing
    response = staff.patch(f"agreements/{globex.pk}/", {"tlp_ceiling": "red", "denied_types": []})
    assert response.status_code == 200
    revealed = Reveal.objects.filter(grant__partner__slug="globex")
    assert revealed.count() == 2


def test_grants_are_replaced(api: Any, world: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    staff = api()
    both = [
        {"collection": str(world.collection.pk)},
        {"collection": str(world.other.pk), "can_write": True},
    ]
    assert staff.patch(f"agreements/{globex.pk}/", {"grants": both}).status_code == 200
    assert Grant.objects.filter(agreement=globex).count() == 2
    only_other = [{"collection": str(world.other.pk), "can_read": False, "can_write": True}]
    body = staff.patch(f"agreements/{globex.pk}/", {"grants": only_other}).json()
    assert body["grants"] == [
        {"collection": str(world.other.pk), "can_read": False, "can_write": True}
    ]
    globex_client = TaxiiClient(world.personas["globex"].basic)
    assert globex_client.get(f"/taxii2/intel/collections/{world.collection.pk}/").status_code == 404
    assert staff.patch(f"agreements/{globex.pk}/", {"partner": "acme"}).status_code == 400


def test_put_replaces_the_rules(api: Any, world: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    body = _agreement(partner="globex", grants=[{"collection": str(world.collection.pk)}])
    response = api().put(f"agreements/{globex.pk}/", body)
    assert response.status_code == 200, response.content
    globex.refresh_from_db()
    assert globex.tlp_ceiling == stix.TLP_AMBER and globex.rate_limit == 60


def test_revoke_and_delete(api: Any, world: World) -> None:
    ingest.store(collection=world.collection, objects=[indicator(1)])
    globex = Agreement.objects.get(partner__slug="globex")
    client = TaxiiClient(world.personas["globex"].basic)
    objects = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    assert orjson.loads(client.get(objects).content)["objects"]
    revoked = api().post(f"agreements/{globex.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["valid_until"] is not None
    assert client.get(objects).status_code == 404
    assert api().delete(f"agreements/{globex.pk}/").status_code == 204
    assert not Grant.objects.filter(partner__slug="globex").exists()
