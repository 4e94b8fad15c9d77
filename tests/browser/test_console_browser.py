"""The operator console in Chromium, as a new admin meets it: log in, onboard a
partner in one page and pull TAXII with its token (taxii2-client, TAXII 2.1 §4.1,
§5.1, §5.3), reload the token page, find "Forest Blizzard", explain a withheld
object; every console page within 1280 px, nothing loaded from outside the hub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone
from taxii2client.v21 import Server

from intelshare import ingest, services, stix
from intelshare.content.pack import load_pack
from intelshare.models import TAXII_21, Agreement, ApiToken, ObjectVersion, Partner
from sync import recall
from sync import services as sync_services
from sync.models import Feed, Quarantine, Recall, RecallDelivery, SyncRun
from tests.factories import PASSWORD, TLP2_RED, World, indicator, make_world

from .conftest import WIDTH, shoot

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@dataclass
class Stage:
    url: str
    world: World
    red_id: str
    forest_id: str
    feed: Feed


def _stage(url: str) -> Stage:
    """The demo's content plus traffic, a withheld object and feeds in every state."""
    world = make_world()
    staff = world.personas["staff"].user
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    load_pack(collection=world.collection)
    red = indicator(7, markings=[TLP2_RED])
    ingest.store(collection=world.collection, objects=[red, indicator(8)])
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_GREEN)
    objects = f"/taxii2/intel/collections/{world.collection.pk}/objects/"
    for name in ("acme", "globex", "globex"):
        Client().get(objects, HTTP_ACCEPT=TAXII_21, HTTP_AUTHORIZATION=world.personas[name].basic)
    Client().get(objects, HTTP_ACCEPT=TAXII_21, HTTP_AUTHORIZATION=world.personas["mallory"].basic)
    acme = world.personas["acme"].user.partner
    now = timezone.now()
    never = sync_services.feed_create(
        name="acme-new",
        partner=acme,
        api_root_url=f"{url}/taxii2/intel/",
        remote_collection_id=str(world.collection.pk),
        auth_type=Feed.AUTH_BASIC,
        username="acme-analyst",
        secret=PASSWORD,
        collection=world.other,
    )
    failing = sync_services.feed_create(
        name="globex-dead-port",
        partner=globex.partner,
        api_root_url="http://127.0.0.1:9/taxii2/api/",
        remote_collection_id="c",
        collection=world.other,
    )
    Feed.objects.filter(pk=failing.pk).update(
        consecutive_failures=3, last_error="connection refused", last_error_at=now
    )
    run = SyncRun.objects.create(
        feed=failing, direction=Feed.PULL, started=now, outcome=SyncRun.FAILED, finished=now
    )
    Quarantine.objects.create(feed=failing, run=run, raw="{}", digest="0" * 64, reason="no id")
    healthy = sync_services.feed_create(
        name="acme-quiet",
        partner=acme,
        api_root_url="https://taxii.acme.example/api1/",
        remote_collection_id="c2",
        collection=world.other,
    )
    Feed.objects.filter(pk=healthy.pk).update(
        last_success=now - timedelta(minutes=2), remote_added_last=now - timedelta(days=9)
    )
    withdrawn = indicator(801)
    ingest.store(collection=world.other, objects=[withdrawn])
    withdrawn_pk = ObjectVersion.objects.get(stix_id=withdrawn["id"]).pk
    recall.record_push(feed=failing, version_pks=[withdrawn_pk], at=timezone.now())
    ingest.delete(collection=world.other, stix_id=withdrawn["id"], version_pks=[withdrawn_pk])
    recall.deliver(RecallDelivery.objects.get().pk)  # a dead port: pending, with the error
    forest = ObjectVersion.objects.get(type="intrusion-set", raw__contains="Forest Blizzard")
    return Stage(url, world, red["id"], forest.stix_id, never)


def _login(page: Any, url: str, next_path: str = "/") -> None:
    page.goto(f"{url}/admin/login/?next={next_path}")
    page.fill("#id_username", "hub-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def _fits(page: Any) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def test_onboard_pull_reload_search_and_explain(live_server: Any, page: Any) -> None:
    stage = _stage(live_server.url)
    url = stage.url
    _login(page, url)
    assert page.locator("#site-name").inner_text() == "intelshare"
    assert page.locator("svg.chart").count() >= 3  # the dashboard, with data
    shoot(page, "dashboard")

    # Onboarding: dashboard -> form -> token in 3 clicks and one typed field.
    clicks = 0

    def click(selector: str) -> None:
        nonlocal clicks
        clicks += 1
        page.click(selector)

    click("nav.console-tabs >> text=Onboard a partner")
    page.fill("#id_name", "Initech CERT")
    click(f"input[name=read][value='{stage.world.collection.pk}']")
    shoot(page, "onboard")
    click("input[type=submit]")
    page.wait_for_load_state()
    assert clicks <= 5
    token = page.locator("#token").inner_text().strip()
    assert token.startswith("isk_")
    assert page.evaluate("location.pathname").startswith("/console/tokens/")
    shoot(page, "token-issued")
    page.reload()
    assert page.locator("#token").count() == 0 and page.locator("#no-secret").is_visible()
    partner = Partner.objects.get(name="Initech CERT")
    assert ApiToken.objects.filter(user__partner=partner).count() == 1
    shoot(page, "token-reloaded")

    # The new partner pulls with taxii2-client and its bearer token: discovery (§4.1),
    # collections (§5.1), objects (§5.3) at TLP:GREEN or below only.
    server = Server(f"{url}/taxii2/", auth=_Bearer(token))
    collections = server.default.collections
    assert [c.id for c in collections] == [str(stage.world.collection.pk)]
    pulled = collections[0].get_objects(limit=500)["objects"]
    assert pulled and stage.red_id not in {o["id"] for o in pulled}

    # Search by name, open the actor.
    click("nav.console-tabs >> text=Objects")
    page.fill("input[name=q]", "Forest Blizzard")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()
    shoot(page, "objects-search")
    click("#results >> text=Forest Blizzard")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Forest Blizzard"
    assert page.locator("#incoming li").count() >= 1
    assert page.locator(".tlp-clear").count() >= 1
    shoot(page, "object-forest-blizzard")

    # Explain, for Globex (ceiling GREEN), an indicator marked TLP:RED.
    page.goto(f"{url}/console/objects/{stage.red_id}/")
    globex = Partner.objects.get(slug="globex")
    page.select_option("select[name=partner]", str(globex.pk))
    page.click("input[value=Explain]")
    page.wait_for_load_state()
    verdict = page.locator("#explain tbody tr").first.inner_text()
    assert "withheld" in verdict and "tlp-ceiling" in verdict
    shoot(page, "object-explain")


def test_every_console_page_fits_1280_px_and_loads_nothing_from_outside(
    live_server: Any, page: Any
) -> None:
    stage = _stage(live_server.url)
    world = stage.world
    globex = Partner.objects.get(slug="globex")
    acme = Partner.objects.get(slug="acme")
    version = ObjectVersion.objects.filter(stix_id=stage.forest_id).first()
    agreement = Agreement.objects.get(partner=globex)
    pages = {
        "landing-dashboard": "/",
        "matrix": "/console/matrix/",
        "objects": "/console/objects/",
        "object-red": f"/console/objects/{stage.red_id}/?partner={globex.pk}",
        "preview": f"/console/preview/{globex.pk}/{world.collection.pk}/",
        "onboard-empty": "/console/onboard/",
        "upload": "/console/objects/upload/",
        "feeds": "/console/feeds/",
        "feed-test": f"/console/feeds/{stage.feed.pk}/test/",
        "recalls": "/console/recalls/",
        "recall": f"/console/recalls/{Recall.objects.get().pk}/",
        "admin-index": "/admin/",
        "admin-partner": f"/admin/intelshare/partner/{acme.pk}/change/",
        "admin-partner-preview": f"/admin/intelshare/partner/{globex.pk}/preview/",
        "admin-audit": "/admin/intelshare/auditevent/",
        "admin-tokens": "/admin/intelshare/apitoken/",
        "admin-users": "/admin/intelshare/user/",
        "admin-versions": "/admin/intelshare/objectversion/",
        "admin-version": f"/admin/intelshare/objectversion/{version.pk}/change/",
        "admin-agreement": f"/admin/intelshare/agreement/{agreement.pk}/change/",
        "admin-feeds": "/admin/sync/feed/",
        "admin-feed": f"/admin/sync/feed/{stage.feed.pk}/change/",
        "admin-collection": f"/admin/intelshare/collection/{world.collection.pk}/change/",
        "api-docs": "/api/v1/docs/",
        "api-redoc": "/api/v1/redoc/",
        "not-found": "/console/no-such-page/",
    }
    # Signed out: the public page, an error page, and the docs redirect to the login.
    page.goto(f"{stage.url}/")
    assert "/taxii2/" in page.locator("#discovery").inner_text()
    shoot(page, "public")
    page.goto(f"{stage.url}/api/v1/docs/")
    assert page.evaluate("location.pathname") == "/admin/login/"
    _login(page, stage.url)
    wide = {}
    for name, path in pages.items():
        response = page.goto(f"{stage.url}{path}")
        assert response is not None
        assert response.status == (404 if name == "not-found" else 200), (name, path)
        if name.startswith("api-"):
            page.wait_for_timeout(1500)  # Swagger and Redoc render from the schema
        width = _fits(page)
        if width > WIDTH:
            wide[name] = width
        shoot(page, name, full_page=not name.startswith("api-"))  # Redoc: very long
    assert not wide, f"pages wider than {WIDTH} px: {wide}"
