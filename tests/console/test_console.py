"""The operator console with Django's test client: error pages, the landing page,
onboarding (token shown once after a redirect), the dashboard and matrix with
bounded queries, the object browser, explain and the preview."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from console import errors
from intelshare import ingest, services, stix
from intelshare.content.pack import load_pack
from intelshare.models import (
    TAXII_21,
    Agreement,
    ApiToken,
    AuditEvent,
    ObjectVersion,
    Partner,
    User,
)
from sync import services as sync_services
from sync.models import Feed
from tests.factories import TLP2_RED, World, indicator

HTML = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


@pytest.fixture
def staff(world: World) -> Client:
    """Hub staff with every admin permission (the console itself needs none)."""
    user = world.personas["staff"].user
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(user)
    return client


# --- errors and landing -------------------------------------------------------------


def test_public_landing_names_the_discovery_url_and_how_to_get_access(world: World) -> None:
    response = Client().get("/", **HTML)
    assert response.status_code == 200
    body = response.content.decode()
    assert "http://testserver/taxii2/" in body and "Get access" in body
    assert "/admin/login/" in body


def test_landing_is_the_dashboard_for_hub_staff(staff: Client) -> None:
    response = staff.get("/")
    assert response.status_code == 200
    assert b"<svg" in response.content or b"No TAXII request" in response.content
    assert b'class="console-tabs"' in response.content


@pytest.mark.parametrize("path", ["/nope", "/admin/nope/", "/console/nope/"])
def test_unknown_browser_paths_get_an_html_404(staff: Client, path: str) -> None:
    response = staff.get(path, **HTML)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content and b"intelshare" in response.content


def test_unknown_paths_under_taxii2_keep_the_taxii_error_message(world: World) -> None:
    """TAXII 2.1 §3.6.1: errors are error messages in the TAXII media type."""
    response = Client().get("/taxii2/intel/nope/", HTTP_ACCEPT=TAXII_21)
    assert response.status_code == 404
    assert response["Content-Type"] == TAXII_21
    assert orjson.loads(response.content)["http_status"] == "404"


def test_api_paths_answer_json_to_api_clients_and_pages_to_browsers(staff: Client) -> None:
    as_api = staff.get("/api/v1/nope/", HTTP_ACCEPT="application/json")
    assert as_api.status_code == 404 and orjson.loads(as_api.content) == {
        "detail": "no such resource"
    }
    assert staff.get("/api/v1/nope/", **HTML)["Content-Type"].startswith("text/html")
    index = staff.get("/api/v1/")
    assert index.status_code == 302 and index["Location"] == "/api/v1/docs/"


def test_missing_partner_preview_and_forbidden_are_pages(world: World, staff: Client) -> None:
    missing = staff.get("/admin/intelshare/partner/999999/preview/", **HTML)
    assert missing.status_code == 404 and missing["Content-Type"].startswith("text/html")
    plain = Client()  # hub staff without the permission to view partners
    plain.force_login(User.objects.create_user("plain-staff", is_staff=True))
    acme = Partner.objects.get(slug="acme")
    denied = plain.get(f"/admin/intelshare/partner/{acme.pk}/preview/", **HTML)
    assert denied.status_code == 403 and b"Forbidden" in denied.content
    elsewhere = plain.get(f"/admin/intelshare/partner/{acme.pk}/change/", **HTML)
    assert elsewhere.status_code == 403 and b"Forbidden" in elsewhere.content
    partner = Client()
    partner.force_login(world.personas["acme"].user)
    refused = partner.get("/console/objects/", **HTML)
    assert refused.status_code == 403 and b"Forbidden" in refused.content


def test_server_errors_are_a_page_or_a_taxii_message() -> None:
    factory = RequestFactory()
    page = errors.server_error(factory.get("/console/", HTTP_ACCEPT="text/html"))
    assert page.status_code == 500 and b"Server error" in page.content
    taxii = errors.server_error(factory.get("/taxii2/intel/"))
    assert taxii["Content-Type"] == TAXII_21
    assert orjson.loads(taxii.content)["http_status"] == "500"


def test_api_docs_send_browsers_without_a_session_to_the_login_page(
    world: World, staff: Client
) -> None:
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = Client().get(path, **HTML)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/admin/login/?next={path}")
        assert "WWW-Authenticate" not in response
        page = staff.get(path)
        assert page.status_code == 200
        assert "img-src 'self'" in page["Content-Security-Policy"]
        assert not re.search(rb"(src|href)=\"https?://", page.content)


def test_admin_header_is_branded_and_view_site_is_the_dashboard(staff: Client) -> None:
    body = staff.get("/admin/").content.decode()
    assert ">intelshare<" in body and "Django administration" not in body
    assert '<a href="/">View site</a>' in body


# --- onboarding ---------------------------------------------------------------------


def _onboard(client: Client, world: World, **extra: Any) -> Any:
    data = {
        "name": "Initech CERT",
        "tlp_ceiling": str(stix.TLP_GREEN),
        "read": [str(world.collection.pk)],
        "token_name": "taxii",
        **extra,
    }
    return client.post("/console/onboard/", data)


def test_onboarding_creates_everything_and_shows_the_token_once(
    world: World, staff: Client
) -> None:
    response = _onboard(staff, world)
    assert response.status_code == 302
    issued = response["Location"]
    partner = Partner.objects.get(name="Initech CERT")
    agreement = Agreement.objects.get(partner=partner)
    assert agreement.tlp_ceiling == stix.TLP_GREEN
    grant = agreement.grants.get()
    assert (grant.collection, grant.can_read, grant.can_write) == (world.collection, True, False)
    user = User.objects.get(partner=partner)
    assert user.username == "initech-cert-taxii" and not user.has_usable_password()
    assert not user.is_staff
    first = staff.get(issued)
    assert first["Cache-Control"] == "no-store"
    plaintext = re.search(
        r'<code id="token" class="secret">([^<]+)</code>', first.content.decode()
    ).group(1)
    assert ApiToken.find_active(plaintext).user == user
    again = staff.get(issued)
    assert plaintext not in again.content.decode() and b'id="no-secret"' in again.content
    assert ApiToken.objects.filter(user=user).count() == 1
    # The new token reads TAXII at once (§5.1: the granted collection is listed).
    ingest.store(collection=world.collection, objects=[indicator(1)])
    answer = Client().get(
        "/taxii2/intel/collections/", HTTP_ACCEPT=TAXII_21, HTTP_AUTHORIZATION=f"Bearer {plaintext}"
    )
    listed = orjson.loads(answer.content)["collections"]
    assert [c["id"] for c in listed] == [str(world.collection.pk)]


def test_onboarding_refuses_a_duplicate_and_an_empty_grant(world: World, staff: Client) -> None:
    response = staff.post(
        "/console/onboard/", {"name": "Acme", "tlp_ceiling": "1", "token_name": "t"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "A partner with the slug" in body and "Grant at least one collection" in body
    assert Partner.objects.count() == 3


def test_admin_token_issue_redirects_and_a_reload_issues_nothing(
    world: World, staff: Client
) -> None:
    user = world.personas["globex"].user
    response = staff.post("/admin/intelshare/apitoken/add/", {"user": user.pk, "name": "second"})
    assert response.status_code == 302
    shown = staff.get(response["Location"])
    assert b'id="token"' in shown.content
    reload = staff.get(response["Location"])
    assert b'id="token"' not in reload.content
    assert ApiToken.objects.filter(user=user, name="second").count() == 1


# --- dashboard and matrix -----------------------------------------------------------


def _traffic(world: World, n: int) -> None:
    acme = world.personas["acme"].user
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now - timedelta(hours=i),
            partner_id=acme.partner_id,
            user=acme,
            method="GET",
            endpoint="objects",
            collection=world.collection,
            status_code=200 if i % 5 else 403,
            count=3,
            versions=[],
        )
        for i in range(n)
    )
    ingest.store(collection=world.collection, objects=[indicator(i) for i in range(n)])


def test_dashboard_draws_traffic_ingest_and_feeds(world: World, staff: Client) -> None:
    _traffic(world, 20)
    feed = sync_services.feed_create(
        name="quiet",
        partner=world.personas["acme"].user.partner,
        api_root_url="http://127.0.0.1:9/api/",
        remote_collection_id="c",
        collection=world.collection,
    )
    body = staff.get("/console/?days=30").content.decode()
    assert body.count("<svg") >= 3
    assert "Acme: 20</title>" in body  # requests
    assert "Acme: 48</title>" in body  # versions served: 16 answered requests x 3
    assert "HTTP 403: 4</title>" in body
    assert re.search(r"post \d+|other 20|: 20, other 20", body)
    assert f"{feed.name}</a>" in body and "never run" in body


def test_dashboard_counts_withheld_versions_by_rule(world: World, staff: Client) -> None:
    _traffic(world, 5)
    ingest.store(collection=world.collection, objects=[indicator(90, markings=[TLP2_RED])])
    acme = Agreement.objects.get(partner__slug="acme")
    services.agreement_update(agreement=acme, tlp_ceiling=stix.TLP_AMBER)
    body = staff.get("/console/").content.decode()
    section = body.split('id="withheld"')[1].split("</section>")[0]
    assert "<title>tlp-ceiling: 1</title>" in section
    assert "<code>tlp-ceiling</code> TLP above the agreement&#x27;s ceiling" in section
    assert "for 1 read grant of the busiest" in section


@pytest.mark.parametrize("path", ["/console/", "/console/matrix/"])
def test_dashboard_and_matrix_queries_do_not_grow_with_the_data(
    world: World, staff: Client, django_assert_max_num_queries: Any, path: str
) -> None:
    staff.get(path)  # session and content types warmed up
    _traffic(world, 5)
    with django_assert_max_num_queries(14) as small:
        assert staff.get(path).status_code == 200
    _traffic(world, 200)
    for n in range(8):
        Partner.objects.create(name=f"P{n}", slug=f"p{n}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert staff.get(path).status_code == 200


def test_matrix_cells_show_the_grant_rules_and_expired_agreements(
    world: World, staff: Client
) -> None:
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(
        agreement=globex,
        valid_until=timezone.now() - timedelta(seconds=1),
        valid_from=timezone.now() - timedelta(days=1),
    )
    body = staff.get("/console/matrix/").content.decode()
    assert body.count('class="cell expired"') == 1 and body.count('class="cell"') == 1
    assert "TLP:RED" in body
    assert f"/console/preview/{globex.partner_id}/{world.collection.pk}/" in body


# --- objects, explain, preview --------------------------------------------------------


@pytest.fixture
def pack(world: World) -> World:
    load_pack(collection=world.collection)
    return world


def test_search_finds_an_actor_by_name_and_a_technique_by_external_id(
    pack: World, staff: Client
) -> None:
    body = staff.get("/console/objects/", {"q": "Forest Blizzard"}).content.decode()
    assert ">Forest Blizzard</a>" in body
    forest = ObjectVersion.objects.filter(type="intrusion-set", raw__contains="Forest Blizzard")
    stix_id = forest.get().stix_id
    assert f"/console/objects/{stix_id}/" in body
    technique = staff.get("/console/objects/", {"q": "T1682"}).content.decode()
    assert "T1682" in technique and "attack-pattern" in technique
    typed = staff.get("/console/objects/", {"type": "intrusion-set", "tlp": "0"})
    assert typed.content.decode().count('<td class="nowrap">intrusion-set</td>') == 5


def test_search_matches_aliases_and_ignores_case_but_not_descriptions(
    pack: World, staff: Client
) -> None:
    for q in ("apt28", "Fancy Bear", "STRONTIUM"):
        body = staff.get("/console/objects/", {"q": q}).content.decode()
        assert ">Forest Blizzard</a>" in body, q
    # "GRU" is only in descriptions: the search reads names, aliases and external ids.
    assert (
        ">Forest Blizzard</a>" not in staff.get("/console/objects/", {"q": "GRU"}).content.decode()
    )


def test_labels_are_written_by_ingest_and_by_the_migration(world: World) -> None:
    import importlib

    from django.apps import apps

    actor = {
        "type": "intrusion-set",
        "spec_version": "2.1",
        "id": "intrusion-set--6d2c5f1e-5b8a-4c8e-9d7a-2f1f1e1a0b01",
        "created": "2024-02-14T00:00:00.000Z",
        "modified": "2024-02-14T00:00:00.000Z",
        "name": "Forest Blizzard",
        "aliases": ["APT28"],
        "external_references": [{"source_name": "mitre-attack", "external_id": "G0007"}],
    }
    ingest.store(collection=world.collection, objects=[actor])
    stored = ObjectVersion.objects.get(stix_id=actor["id"])
    assert stored.label == "forest blizzard\napt28\ng0007"
    ObjectVersion.objects.filter(pk=stored.pk).update(label="")
    migration = importlib.import_module("intelshare.migrations.0004_version_label")
    migration.fill_labels(apps, None)
    stored.refresh_from_db()
    assert stored.label == "forest blizzard\napt28\ng0007"


@pytest.mark.postgres
def test_name_search_reads_the_trigram_index(pack: World) -> None:
    from django.db import connection

    from console import selectors
    from intelshare.content.generator import generate

    ingest.store(collection=pack.collection, objects=list(generate(3000, seed=7)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('version_label_trgm'::regclass)")
        cursor.execute("ANALYZE intelshare_objectversion")
        # At 3,000 rows a sequential scan is cheaper; at 100k it is not (README).
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = selectors.objects._searched(selectors.Search(q="Forest Blizzard")).explain()
    assert "version_label_trgm" in plan, plan


def test_object_page_links_refs_relationships_and_reports(pack: World, staff: Client) -> None:
    stix_id = ObjectVersion.objects.get(
        type="intrusion-set", raw__contains="Forest Blizzard"
    ).stix_id
    body = staff.get(f"/console/objects/{stix_id}/").content.decode()
    assert "TLP:CLEAR" in body
    assert 'id="incoming"' in body and ">uses</a>" in body
    assert "created_by_ref" in body and "/console/objects/identity--" in body
    assert '<pre class="json">' in body


def test_explain_names_the_rule_that_withholds_from_a_partner(world: World, staff: Client) -> None:
    red = indicator(5, markings=[TLP2_RED])
    ingest.store(collection=world.collection, objects=[red])
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_GREEN)
    body = staff.get(
        f"/console/objects/{red['id']}/", {"partner": globex.partner_id}
    ).content.decode()
    assert "verdict-withheld" in body and "<code>tlp-ceiling</code>" in body
    acme = Partner.objects.get(slug="acme")
    shared = staff.get(f"/console/objects/{red['id']}/", {"partner": acme.pk})
    assert b"verdict-shared" in shared.content


def test_who_received_it_comes_from_the_audit(world: World, staff: Client, taxii: Any) -> None:
    ingest.store(collection=world.collection, objects=[indicator(3)])
    taxii("globex").get(f"/taxii2/intel/collections/{world.collection.pk}/objects/")
    body = staff.get(f"/console/objects/{indicator(3)['id']}/").content.decode()
    assert re.search(r'id="receipts".*<td>Globex</td>', body, re.S)


def test_preview_names_received_and_withheld_versions_with_their_rule(
    world: World, staff: Client
) -> None:
    ingest.store(
        collection=world.collection, objects=[indicator(1), indicator(2, markings=[TLP2_RED])]
    )
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_AMBER)
    body = staff.get(
        f"/console/preview/{globex.partner_id}/{world.collection.pk}/"
    ).content.decode()
    received = body.split('id="received"')[1].split("</table>")[0]
    withheld = body.split('id="withheld"')[1].split("</table>")[0]
    assert indicator(1)["id"] in received and indicator(2)["id"] not in received
    assert indicator(2)["id"] in withheld and "TLP:RED" in withheld
    assert "<code>tlp-ceiling</code>" in withheld
    assert 'id="summary"' not in body  # counting reads the whole collection: on demand
    counted = staff.get(
        f"/console/preview/{globex.partner_id}/{world.collection.pk}/", {"count": "1"}
    ).content.decode()
    assert "1 of 2 versions received; withheld: 1 (TLP above" in counted


def test_withheld_rows_are_read_newest_first_within_a_bound(world: World) -> None:
    from intelshare import preview

    ingest.store(collection=world.collection, objects=[indicator(1, markings=[TLP2_RED])])
    ingest.store(collection=world.collection, objects=[indicator(2), indicator(3)])
    globex = Agreement.objects.get(partner__slug="globex")
    services.agreement_update(agreement=globex, tlp_ceiling=stix.TLP_AMBER)
    now = timezone.now()
    found, scanned = preview.withheld(
        partner=globex.partner, collection=world.collection, now=now, scan=2
    )
    assert (found, scanned) == ([], 2)  # the red one is the oldest: not among the 2 newest
    found, scanned = preview.withheld(
        partner=globex.partner, collection=world.collection, now=now, scan=3
    )
    assert [(w.stix_id, w.rule) for w in found] == [(indicator(1)["id"], "tlp-ceiling")]


# --- feeds ----------------------------------------------------------------------------


def test_a_feed_that_never_ran_is_not_healthy_and_lag_counts_from_the_last_success(
    world: World,
) -> None:
    feed = sync_services.feed_create(
        name="dead-port",
        partner=world.personas["acme"].user.partner,
        api_root_url="http://127.0.0.1:9/api/",
        remote_collection_id="c",
        collection=world.collection,
    )
    assert feed.health == "never run" and not feed.healthy and feed.lag() is None
    now = timezone.now()
    Feed.objects.filter(pk=feed.pk).update(
        last_success=now - timedelta(seconds=30), remote_added_last=now - timedelta(days=3)
    )
    feed.refresh_from_db()
    assert feed.health == "healthy"
    assert timedelta(seconds=29) < feed.lag(now) < timedelta(seconds=31)  # not 3 days


def test_feed_test_page_reports_a_dead_port(world: World, staff: Client) -> None:
    feed = sync_services.feed_create(
        name="dead-port",
        partner=world.personas["acme"].user.partner,
        api_root_url="http://127.0.0.1:9/api/",
        remote_collection_id="c",
        collection=world.collection,
    )
    body = staff.get(f"/console/feeds/{feed.pk}/test/").content.decode()
    assert 'id="probe-failed"' in body
    assert "never run" in staff.get("/console/feeds/").content.decode()


def test_demo_processes_share_one_emptied_prometheus_directory(tmp_path: Any) -> None:
    """Two gunicorn workers without a shared directory answer /metrics with their
    own counters (2, 4, 2 on successive scrapes); the demo gives them one."""
    from intelshare.management.commands.demo import metrics_environment

    stale = tmp_path / "prometheus" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    env = metrics_environment(tmp_path)
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "prometheus")
    assert list((tmp_path / "prometheus").iterdir()) == []


def test_upload_a_bundle_shows_each_objects_outcome(world: World, staff: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    ingest.store(collection=world.collection, objects=[indicator(1)])
    bad = {**indicator(3), "id": "indicator--not-a-uuid"}
    bundle = {
        "type": "bundle",
        "id": "bundle--6b7c3c0e-1a7b-4b55-9a7e-0c8a5b3d9f01",
        "objects": [indicator(1), indicator(2), bad],
    }
    upload = SimpleUploadedFile("b.json", orjson.dumps(bundle), "application/json")
    body = staff.post(
        "/console/objects/upload/",
        {
            "bundle": upload,
            "collection": str(world.collection.pk),
            "source_partner": str(world.personas["acme"].user.partner_id),
        },
    ).content.decode()
    assert "1 stored, 1 already present, 1 refused" in body
    stored = ObjectVersion.objects.get(stix_id=indicator(2)["id"])
    assert stored.origin == "console:hub-admin"
    assert stored.source_partner_id == world.personas["acme"].user.partner_id


def test_download_a_search_or_a_collection_as_a_bundle(world: World, staff: Client) -> None:
    ingest.store(
        collection=world.collection, objects=[indicator(1), indicator(2), indicator(1, version=5)]
    )
    response = staff.get("/console/objects/bundle/", {"collection": str(world.collection.pk)})
    assert response["Content-Type"] == "application/stix+json;version=2.1"
    bundle = orjson.loads(response.content)
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    assert sorted((o["id"], o["modified"]) for o in bundle["objects"]) == sorted(
        [
            (indicator(1)["id"], indicator(1, version=5)["modified"]),
            (indicator(2)["id"], indicator(2)["modified"]),
        ]
    )
    one = orjson.loads(staff.get("/console/objects/bundle/", {"q": indicator(2)["id"]}).content)
    assert [o["id"] for o in one["objects"]] == [indicator(2)["id"]]
