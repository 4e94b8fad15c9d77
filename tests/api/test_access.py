"""Every management API endpoint x every persona: staff only.

Partner users get 403 whether they use Basic or a bearer token; anonymous
callers get 401 with a ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

from typing import Any

import pytest

from intelshare.models import Agreement, ApiToken
from tests.factories import World

# (method, path template); {partner}, {agreement}, {collection}, {token}, {user} filled in.
ENDPOINTS = [
    ("GET", "partners/"),
    ("POST", "partners/"),
    ("GET", "partners/{partner}/"),
    ("PATCH", "partners/{partner}/"),
    ("DELETE", "partners/{partner}/"),
    ("GET", "users/"),
    ("POST", "users/"),
    ("GET", "users/{user}/"),
    ("DELETE", "users/{user}/"),
    ("GET", "tokens/"),
    ("POST", "tokens/"),
    ("GET", "tokens/{token}/"),
    ("POST", "tokens/{token}/revoke/"),
    ("GET", "api-roots/"),
    ("POST", "api-roots/"),
    ("GET", "api-roots/intel/"),
    ("GET", "collections/"),
    ("POST", "collections/"),
    ("GET", "collections/{collection}/"),
    ("PATCH", "collections/{collection}/"),
    ("GET", "agreements/"),
    ("POST", "agreements/"),
    ("GET", "agreements/{agreement}/"),
    ("PUT", "agreements/{agreement}/"),
    ("POST", "agreements/{agreement}/revoke/"),
    ("DELETE", "agreements/{agreement}/"),
    ("GET", "audit-events/"),
    ("GET", "explain/?partner=acme&stix_id=indicator--x"),
    ("GET", "preview/?partner=acme&collection={collection}"),
    ("GET", "feeds/"),
    ("POST", "feeds/"),
    ("GET", "sync-runs/"),
    ("GET", "quarantine/"),
    ("GET", "schema/"),
    ("GET", "docs/"),
    ("GET", "redoc/"),
]


def _fill(path: str, world: World) -> str:
    acme = world.personas["acme"].user
    return path.format(
        partner="globex",
        user=acme.pk,
        collection=world.collection.pk,
        token=ApiToken.objects.filter(user=acme).first().pk,
        agreement=Agreement.objects.get(partner__slug="globex").pk,
    )


def _call(client: Any, method: str, path: str) -> Any:
    return getattr(client.client, method.lower())(f"/api/v1/{path}", {}, format="json")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    ("persona", "bearer"), [("acme", False), ("acme", True), ("globex", False), ("mallory", True)]
)
def test_partner_users_are_forbidden_everywhere(
    api: Any, world: World, method: str, path: str, persona: str, bearer: bool
) -> None:
    response = _call(api(persona, bearer=bearer), method, _fill(path, world))
    assert response.status_code == 403, response.content


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_is_challenged(api: Any, world: World, method: str, path: str) -> None:
    response = _call(api(None), method, _fill(path, world))
    if path in ("docs/", "redoc/"):
        # Pages for a browser: the login form, not a Basic password prompt.
        assert response.status_code == 302
        assert response["Location"].startswith(f"/admin/login/?next=/api/v1/{path}")
        assert "WWW-Authenticate" not in response
        return
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", [p for m, p in ENDPOINTS if m == "GET"])
@pytest.mark.parametrize("bearer", [False, True])
def test_staff_reads_everything(api: Any, world: World, path: str, bearer: bool) -> None:
    response = api("staff", bearer=bearer).client.get(f"/api/v1/{_fill(path, world)}")
    assert response.status_code == 200, response.content


def test_staff_with_a_partner_is_not_hub_staff(api: Any, world: World) -> None:
    acme = world.personas["acme"].user
    acme.is_staff = True
    acme.save(update_fields=["is_staff"])
    assert api("acme").get("partners/").status_code == 403


def test_session_of_an_admin_user_works(world: World) -> None:
    from django.test import Client

    client = Client()
    client.force_login(world.personas["staff"].user)
    assert client.get("/api/v1/partners/").status_code == 200
    agreement = Agreement.objects.get(partner__slug="globex").pk
    for path in (
        "partners/",
        f"agreements/{agreement}/",
        "agreements/",
        "feeds/",
        "tokens/",
        f"preview/?partner=acme&collection={world.collection.pk}",
    ):
        page = client.get(f"/api/v1/{path}", HTTP_ACCEPT="text/html")  # the browsable API
        assert page.status_code == 200, path
        assert page["Content-Type"].startswith("text/html")


def test_revoked_staff_token_is_refused(api: Any, world: World) -> None:
    staff = world.personas["staff"]
    ApiToken.objects.filter(user=staff.user).update(revoked_at="2020-01-01T00:00:00Z")
    assert api("staff", bearer=True).get("partners/").status_code == 401
