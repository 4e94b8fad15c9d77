"""Admin forms: STIX types picked or typed, no self-consent, media types as lines,
partner users without staff widgets."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from intelshare.models import Agreement, Collection
from tests.factories import World


@pytest.fixture
def root(world: World) -> Client:
    user = world.personas["staff"].user
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(user)
    return client


def _agreement_data(agreement: Agreement, **extra: Any) -> dict[str, Any]:
    return {
        "name": agreement.name,
        "tlp_ceiling": agreement.tlp_ceiling,
        "embargo": "0",
        "granular_mode": "withhold",
        "sightings": "anonymous",
        "valid_from_0": "2020-01-01",
        "valid_from_1": "00:00:00",
        "valid_until_0": "",
        "valid_until_1": "",
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
        **extra,
    }


def test_types_are_picked_from_known_types_and_custom_ones_typed(
    world: World, root: Client
) -> None:
    agreement = Agreement.objects.get(partner__slug="globex")
    url = reverse("admin:intelshare_agreement_change", args=[agreement.pk])
    page = root.get(url).content.decode()
    assert '<select multiple name="allowed_types"' in page
    assert '<option value="intrusion-set">' in page and 'name="denied_types_other"' in page
    response = root.post(
        url,
        _agreement_data(
            agreement,
            allowed_types=["intrusion-set", "attack-pattern"],
            allowed_types_other="x-llm-prompt",
            denied_types=["malware"],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agreement.refresh_from_db()
    assert agreement.allowed_types == ["intrusion-set", "attack-pattern", "x-llm-prompt"]
    assert agreement.denied_types == ["malware"]
    shown = root.get(url).content.decode()
    assert '<option value="intrusion-set" selected>' in shown
    assert 'value="x-llm-prompt"' in shown
    bad = root.post(url, _agreement_data(agreement, denied_types_other="Not A Type"))
    assert "Not STIX types" in bad.content.decode()


def test_a_partner_is_not_offered_as_its_own_consent(world: World, root: Client) -> None:
    agreement = Agreement.objects.get(partner__slug="globex")
    page = root.get(reverse("admin:intelshare_agreement_change", args=[agreement.pk]))
    consents = page.content.decode().partition('name="consents"')[2]
    consents = consents.partition("</select>")[0]
    assert ">Acme</option>" in consents and ">Globex</option>" not in consents


def test_media_types_are_edited_as_lines(world: World, root: Client) -> None:
    url = reverse("admin:intelshare_collection_change", args=[world.collection.pk])
    page = root.get(url).content.decode()
    assert "application/stix+json;version=2.1</textarea>" in page
    data = {
        "api_root": world.api_root.pk,
        "title": "LLM misuse",
        "alias": "llm-misuse",
        "default_tlp": world.collection.default_tlp,
        "media_types": "application/stix+json;version=2.1\r\napplication/stix+json;version=2.0\r\n",
    }
    assert root.post(url, data).status_code == 302
    assert Collection.objects.get(pk=world.collection.pk).media_types == [
        "application/stix+json;version=2.1",
        "application/stix+json;version=2.0",
    ]
    refused = root.post(url, {**data, "media_types": "not a media type"})
    assert "Not media types" in refused.content.decode()


def test_partner_users_get_no_staff_or_permission_widgets(world: World, root: Client) -> None:
    partner_user = world.personas["acme"].user
    page = root.get(reverse("admin:intelshare_user_change", args=[partner_user.pk]))
    body = page.content.decode()
    assert 'name="partner"' in body and 'name="is_active"' in body
    for widget in ("groups", "user_permissions", "is_superuser", "is_staff"):
        assert f'name="{widget}"' not in body
    staff = root.get(
        reverse("admin:intelshare_user_change", args=[world.personas["staff"].user.pk])
    ).content.decode()
    assert 'name="is_superuser"' in staff
