"""Partners, users and API tokens through the management API."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.utils import timezone

from intelshare.models import TAXII_21, ApiToken, Partner, User
from tests.conftest import TaxiiClient
from tests.factories import World


def test_partner_crud(api: Any) -> None:
    staff = api()
    created = staff.post("partners/", {"name": "Initech CERT", "description": "banking"})
    assert created.status_code == 201, created.content
    assert created.json()["slug"] == "initech-cert"
    assert staff.get("partners/initech-cert/").json()["description"] == "banking"
    assert staff.patch("partners/initech-cert/", {"description": "x"}).status_code == 200
    listed = staff.get("partners/", {"search": "initech"}).json()
    assert [p["slug"] for p in listed["results"]] == ["initech-cert"]
    assert staff.get("partners/", {"ordering": "-name"}).json()["results"][0]["slug"] == "mallory"
    assert staff.delete("partners/initech-cert/").status_code == 204
    assert not Partner.objects.filter(slug="initech-cert").exists()


def test_partner_validation(api: Any) -> None:
    staff = api()
    assert staff.post("partners/", {}).json() == {"name": ["This field is required."]}
    taken = staff.post("partners/", {"name": "Other", "slug": "acme"})
    assert taken.status_code == 400 and "slug" in taken.json()
    bad = staff.post("partners/", {"name": "Other", "slug": "not a slug!"})
    assert bad.status_code == 400 and "slug" in bad.json()


def test_partner_with_users_cannot_be_deleted(api: Any) -> None:
    response = api().delete("partners/acme/")
    assert response.status_code == 409
    assert "users" in response.json()["detail"]


def test_user_of_a_partner_without_password_uses_tokens(api: Any, world: World) -> None:
    response = api().post("users/", {"username": "acme-bot", "partner": "acme"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["partner"] == "acme" and body["is_staff"] is False
    assert "password" not in body
    assert not User.objects.get(username="acme-bot").has_usable_password()


def test_user_with_password_can_use_basic(api: Any, world: World) -> None:
    response = api().post(
        "users/", {"username": "globex-2", "partner": "globex", "password": "s3cret-enough"}
    )
    assert response.status_code == 201
    client = TaxiiClient("Basic " + base64.b64encode(b"globex-2:s3cret-enough").decode())
    assert client.get("/taxii2/").status_code == 200


def test_user_validation(api: Any, world: World) -> None:
    staff = api()
    neither = staff.post("users/", {"username": "loner"})
    assert neither.status_code == 400 and "partner" in neither.json()
    both = staff.post("users/", {"username": "x", "partner": "acme", "is_staff": True})
    assert both.status_code in (400, 403)
    unknown = staff.post("users/", {"username": "x", "partner": "nobody"})
    assert unknown.status_code == 400 and "partner" in unknown.json()
    user = world.personas["acme"].user
    moved = staff.patch(f"users/{user.pk}/", {"partner": "globex"})
    assert moved.status_code == 400 and "partner" in moved.json()
    assert staff.patch(f"users/{user.pk}/", {"is_active": False}).status_code == 200
    user.refresh_from_db()
    assert not user.is_active


def test_only_superusers_manage_staff(api: Any, world: World) -> None:
    staff = api()
    assert staff.post("users/", {"username": "ops", "is_staff": True}).status_code == 403
    other = User.objects.create_user("ops2", is_staff=True)
    assert staff.patch(f"users/{other.pk}/", {"email": "ops@example.org"}).status_code == 403


def test_superuser_creates_staff(api: Any, superuser: User) -> None:
    response = api().post("users/", {"username": "ops", "is_staff": True})
    assert response.status_code == 201
    assert response.json()["partner"] is None


def test_user_filters(api: Any, world: World) -> None:
    listed = api().get("users/", {"partner": "acme"}).json()["results"]
    assert [u["username"] for u in listed] == ["acme-analyst"]
    staff = api().get("users/", {"is_staff": "true"}).json()["results"]
    assert [u["username"] for u in staff] == ["hub-admin"]


def test_token_is_shown_once_and_works_on_taxii(api: Any, world: World) -> None:
    acme = world.personas["acme"].user
    created = api().post("tokens/", {"user": acme.pk, "name": "opencti"})
    assert created.status_code == 201, created.content
    body = created.json()
    plaintext = body["token"]
    assert plaintext.startswith("isk_") and body["hint"] == plaintext[:10]
    stored = ApiToken.objects.get(pk=body["id"])
    assert plaintext not in (stored.digest, stored.hint)
    # Never again: neither the detail nor the list carries it.
    assert "token" not in api().get(f"tokens/{body['id']}/").json()
    assert plaintext not in api().get("tokens/").content.decode()
    taxii = TaxiiClient(f"Bearer {plaintext}")
    assert taxii.get("/taxii2/intel/collections/").status_code == 200
    # A partner token opens TAXII, not the management API.
    from tests.api.conftest import Api

    assert Api(f"Bearer {plaintext}").get("partners/").status_code == 403
    revoked = api().post(f"tokens/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert taxii.get("/taxii2/", HTTP_ACCEPT=TAXII_21).status_code == 401


def test_token_expiry(api: Any, world: World) -> None:
    acme = world.personas["acme"].user
    past = api().post(
        "tokens/", {"user": acme.pk, "name": "old", "expires_at": "2001-01-01T00:00:00Z"}
    )
    assert past.status_code == 400 and "expires_at" in past.json()
    soon = timezone.now() + timedelta(days=30)
    ok = api().post("tokens/", {"user": acme.pk, "name": "30d", "expires_at": soon.isoformat()})
    assert ok.status_code == 201 and ok.json()["active"] is True
    assert api().post("tokens/", {"user": acme.pk, "name": ""}).status_code == 400
    assert api().post("tokens/", {"name": "x"}).json() == {"user": ["This field is required."]}


def test_token_filters(api: Any, world: World) -> None:
    acme = world.personas["acme"].user
    listed = api().get("tokens/", {"partner": "acme"}).json()["results"]
    assert {t["user"] for t in listed} == {acme.pk}
    api().post(f"tokens/{listed[0]['id']}/revoke/")
    assert api().get("tokens/", {"partner": "acme", "active": "true"}).json()["count"] == 0
    assert api().get("tokens/", {"partner": "acme", "active": "false"}).json()["count"] == 1


def test_staff_tokens_need_a_superuser(api: Any, world: World) -> None:
    other = User.objects.create_user("ops2", is_staff=True)
    assert api().post("tokens/", {"user": other.pk, "name": "x"}).status_code == 403
    own = api().post("tokens/", {"user": world.personas["staff"].user.pk, "name": "mine"})
    assert own.status_code == 201
