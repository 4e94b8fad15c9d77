"""Django admin: every page renders for a superuser, every action works, and
agreement edits go through intelshare.services (widenings are recorded)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from intelshare import ingest, services, stix
from intelshare.models import (
    Agreement,
    ApiToken,
    AuditEvent,
    Collection,
    Grant,
    ObjectVersion,
    Partner,
    Reveal,
    Status,
    User,
)
from sync import services as sync_services
from sync.models import Feed, Quarantine, SyncRun
from tests.conftest import TaxiiClient
from tests.factories import TLP2_RED, World, indicator


def _relationship(source: str, target: str) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.UUID(int=88, version=4)}",
        "created": "2024-02-14T12:00:00.000Z",
        "modified": "2024-02-14T12:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
    }


@pytest.fixture
def full(world: World) -> World:
    """At least one row of every model the admin shows."""
    ingest.store(
        collection=world.collection,
        objects=[
            indicator(1),
            indicator(2, markings=[TLP2_RED]),
            _relationship(indicator(1)["id"], indicator(2)["id"]),
        ],
    )
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_GREEN)
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_RED)  # reveals
    TaxiiClient(world.personas["globex"].basic).get(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    )
    Status.objects.create(
        collection=world.collection,
        status=Status.COMPLETE,
        request_timestamp=timezone.now(),
        partner=world.personas["acme"].user.partner,
    )
    feed = sync_services.feed_create(
        name="acme-pull",
        partner=world.personas["acme"].user.partner,
        api_root_url="https://taxii.acme.example/api1/",
        remote_collection_id="c1",
        collection=world.collection,
        auth_type=Feed.AUTH_BEARER,
        secret="t0k",
    )
    run = SyncRun.objects.create(feed=feed, direction=feed.direction, started=timezone.now())
    Quarantine.objects.create(
        feed=feed, run=run, stix_id="indicator--x", raw="{}", digest="0" * 64, reason="invalid"
    )
    Group.objects.create(name="analysts")
    assert Reveal.objects.exists() and AuditEvent.objects.exists()
    return world


@pytest.fixture
def root(full: World) -> Client:
    user = User.objects.create_superuser("root", password="root-pass-123")
    client = Client()
    client.force_login(user)
    return client


MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_page_renders(root: Client, model: Any) -> None:
    info = (model._meta.app_label, model._meta.model_name)
    assert root.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    model_admin = admin.site._registry[model]
    add = root.get(reverse("admin:{}_{}_add".format(*info)))
    assert add.status_code == (200 if model_admin.has_add_permission(_request()) else 403)
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model._meta.label} row to show"
    change = root.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
    assert change.status_code == 200


def _errors(response: Any) -> Any:
    """The form and inline errors of an admin page that did not save."""
    if response.context is None or "adminform" not in response.context:
        return response.status_code
    return (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
    )


def _request() -> Any:
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = User.objects.get(username="root")
    return request


def test_partner_page_shows_agreements_feeds_pulls_and_preview(root: Client, full: World) -> None:
    globex = Partner.objects.get(slug="globex")
    page = root.get(reverse("admin:intelshare_partner_change", args=[globex.pk])).content.decode()
    assert "globex" in page and "Objects" in page  # the last pull
    assert reverse("admin:intelshare_partner_preview", args=[globex.pk]) in page
    acme = Partner.objects.get(slug="acme")
    assert (
        "acme-pull"
        in root.get(reverse("admin:intelshare_partner_change", args=[acme.pk])).content.decode()
    )


def test_preview_page(root: Client, full: World) -> None:
    globex = Partner.objects.get(slug="globex")
    url = reverse("admin:intelshare_partner_preview", args=[globex.pk])
    page = root.get(url, {"collection": str(full.collection.pk)})
    assert page.status_code == 200
    text = page.content.decode()
    assert "3 of 3 versions shared" in text and indicator(2)["id"] in text
    mallory = Partner.objects.get(slug="mallory")
    nothing = root.get(reverse("admin:intelshare_partner_preview", args=[mallory.pk]))
    assert "receives nothing" in nothing.content.decode()
    assert root.get(url, {"cursor": "forged"}).status_code == 200
    assert root.get(reverse("admin:intelshare_partner_preview", args=[99999])).status_code == 404


def _agreement_form(partner: Partner, **fields: Any) -> dict[str, Any]:
    data = {
        "partner": partner.pk,
        "name": "via admin",
        "tlp_ceiling": stix.TLP_GREEN,
        "allowed_types": "",
        "denied_types": "",
        "embargo": "0",
        "granular_mode": "withhold",
        "sightings": "anonymous",
        "valid_from_0": "2020-01-01",
        "valid_from_1": "00:00:00",
        "valid_until_0": "",
        "valid_until_1": "",
        "rate_limit": "",
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(fields)
    return data


def test_agreement_add_and_widen_through_services(root: Client, full: World) -> None:
    mallory = Partner.objects.get(slug="mallory")
    data = _agreement_form(
        mallory,
        **{
            "grants-TOTAL_FORMS": "1",
            "grants-0-collection": str(full.collection.pk),
            "grants-0-can_read": "on",
            "denied_types": "malware, tool",
            "consents": [Partner.objects.get(slug="globex").pk],
        },
    )
    response = root.post(reverse("admin:intelshare_agreement_add"), data)
    assert response.status_code == 302, _errors(response)
    agreement = Agreement.objects.get(partner=mallory)
    assert agreement.denied_types == ["malware", "tool"]
    assert list(agreement.consents.values_list("slug", flat=True)) == ["globex"]
    grant = Grant.objects.get(agreement=agreement)
    assert grant.can_read and not grant.can_write
    # Widening on the change page is recorded as reveals for mallory.
    change = _agreement_form(
        mallory,
        **{
            "tlp_ceiling": stix.TLP_RED,
            "denied_types": "malware, tool",
            "consents": [Partner.objects.get(slug="globex").pk],
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "1",
            "grants-0-id": str(grant.pk),
            "grants-0-agreement": str(agreement.pk),
            "grants-0-collection": str(full.collection.pk),
            "grants-0-can_read": "on",
        },
    )
    change.pop("partner")
    response = root.post(reverse("admin:intelshare_agreement_change", args=[agreement.pk]), change)
    assert response.status_code == 302, _errors(response)
    # The unmarked (AMBER) and RED indicators, and the relationship between them.
    assert Reveal.objects.filter(grant=grant).count() == 3
    # Deleting the grant inline goes through accounts.grant_remove.
    change["grants-0-DELETE"] = "on"
    root.post(reverse("admin:intelshare_agreement_change", args=[agreement.pk]), change)
    assert not Grant.objects.filter(agreement=agreement).exists()


def test_agreement_form_errors(root: Client, full: World) -> None:
    acme = Partner.objects.get(slug="acme")
    data = _agreement_form(
        acme,
        **{
            "denied_types": "Not A Type",
            "consents": [acme.pk],
            "grants-TOTAL_FORMS": "1",
            "grants-0-collection": str(full.collection.pk),
            "grants-0-can_read": "on",
        },
    )
    page = root.post(reverse("admin:intelshare_agreement_add"), data)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Not STIX types" in text and "its own contributions" in text
    assert "another agreement" in text
    assert Agreement.objects.filter(partner=acme).count() == 1


def test_revoke_now_action(root: Client, full: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    response = root.post(
        reverse("admin:intelshare_agreement_changelist"),
        {"action": "revoke_now", "_selected_action": [globex.pk]},
    )
    assert response.status_code == 302
    globex.refresh_from_db()
    assert globex.valid_until is not None and not globex.active_at(timezone.now())
    objects = f"/taxii2/intel/collections/{full.collection.pk}/objects/"
    assert TaxiiClient(full.personas["globex"].basic).get(objects).status_code == 404


def test_delete_selected_agreements(root: Client, full: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    root.post(
        reverse("admin:intelshare_agreement_changelist"),
        {"action": "delete_selected", "_selected_action": [globex.pk], "post": "yes"},
    )
    assert not Agreement.objects.filter(pk=globex.pk).exists()


def test_partner_inline_agreement(root: Client, full: World) -> None:
    globex = Partner.objects.get(slug="globex")
    existing = Agreement.objects.get(partner=globex)
    services.agreement_update(
        agreement=existing, denied_types=["malware"], allowed_types=["indicator", "malware"]
    )
    url = reverse("admin:intelshare_partner_change", args=[globex.pk])
    data = {
        "name": "Globex",
        "slug": "globex",
        "description": "",
        "agreements-TOTAL_FORMS": "2",
        "agreements-INITIAL_FORMS": "1",
        "agreements-MIN_NUM_FORMS": "0",
        "agreements-MAX_NUM_FORMS": "1000",
        "agreements-0-id": str(existing.pk),
        "agreements-0-partner": str(globex.pk),
        "agreements-0-name": existing.name,
        "agreements-0-tlp_ceiling": stix.TLP_AMBER,
        "agreements-0-embargo": "0",
        "agreements-0-granular_mode": "withhold",
        "agreements-0-valid_from_0": "2020-01-01",
        "agreements-0-valid_from_1": "00:00:00",
        "agreements-1-partner": str(globex.pk),
        "agreements-1-name": "second",
        "agreements-1-tlp_ceiling": stix.TLP_CLEAR,
        "agreements-1-embargo": "0",
        "agreements-1-granular_mode": "redact",
        "agreements-1-valid_from_0": "2020-01-01",
        "agreements-1-valid_from_1": "00:00:00",
        "_save": "Save",
    }
    response = root.post(url, data)
    assert response.status_code == 302, _errors(response)
    existing.refresh_from_db()
    assert existing.tlp_ceiling == stix.TLP_AMBER
    # What the row does not show is left alone.
    assert existing.denied_types == ["malware"]
    assert existing.allowed_types == ["indicator", "malware"]
    assert Agreement.objects.get(partner=globex, name="second").granular_mode == "redact"


def test_collection_default_tlp_change_is_recorded(root: Client, full: World) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_GREEN)
    Reveal.objects.all().delete()
    coll = full.collection
    data = {
        "api_root": coll.api_root_id,
        "title": coll.title,
        "description": "",
        "alias": coll.alias,
        "media_types": orjson.dumps(coll.media_types).decode(),
        "default_tlp": stix.TLP_GREEN,
        "_save": "Save",
    }
    response = root.post(reverse("admin:intelshare_collection_change", args=[coll.pk]), data)
    assert response.status_code == 302, _errors(response)
    assert Collection.objects.get(pk=coll.pk).default_tlp == stix.TLP_GREEN
    # indicator(1) is unmarked: AMBER before, GREEN now, so globex gets it as new.
    assert Reveal.objects.filter(grant__partner__slug="globex").exists()


def test_token_is_issued_once(root: Client, full: World) -> None:
    acme = full.personas["acme"].user
    response = root.post(
        reverse("admin:intelshare_apitoken_add"),
        {"user": acme.pk, "name": "from admin", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 302  # POST -> redirect -> GET shows it once
    shown = root.get(response["Location"])
    plaintext = re.search(r"isk_[A-Za-z0-9_-]{40,}", shown.content.decode()).group(0)
    assert not re.search(r"isk_[A-Za-z0-9_-]{40,}", root.get(response["Location"]).content.decode())
    token = ApiToken.objects.get(name="from admin")
    assert plaintext not in (token.digest, token.hint)
    client = TaxiiClient(f"Bearer {plaintext}")
    assert client.get("/taxii2/").status_code == 200
    page = root.get(reverse("admin:intelshare_apitoken_change", args=[token.pk]))
    assert plaintext not in page.content.decode()
    past = root.post(
        reverse("admin:intelshare_apitoken_add"),
        {"user": acme.pk, "name": "old", "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"},
    )
    assert "must be in the future" in past.content.decode()
    # The revoke action.
    root.post(
        reverse("admin:intelshare_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert client.get("/taxii2/").status_code == 401


def test_user_roles_are_exclusive(root: Client, full: World) -> None:
    acme = Partner.objects.get(slug="acme")
    page = root.post(
        reverse("admin:intelshare_user_add"),
        {
            "username": "both",
            "partner": acme.pk,
            "is_staff": "on",
            "usable_password": "false",
            "password1": "",
            "password2": "",
        },
    )
    assert page.status_code == 200 and "cannot be hub staff" in page.content.decode()
    ok = root.post(
        reverse("admin:intelshare_user_add"),
        {
            "username": "acme-2",
            "partner": acme.pk,
            "usable_password": "false",
            "password1": "",
            "password2": "",
        },
    )
    assert ok.status_code == 302, _errors(ok)
    assert User.objects.get(username="acme-2").partner == acme


def test_versions_are_read_only(root: Client, full: World) -> None:
    version = ObjectVersion.objects.first()
    url = reverse("admin:intelshare_objectversion_change", args=[version.pk])
    assert root.post(url, {}).status_code == 403
    assert version.stix_id in root.get(url).content.decode()
