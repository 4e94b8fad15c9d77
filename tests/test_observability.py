"""Request ids, structured logs and the Prometheus endpoint (README "Production
deployment")."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intelshare import ingest, observability
from intelshare.logs import JsonFormatter, RequestIdFilter
from intelshare.models import TAXII_21
from sync import services as sync_services
from sync.models import Feed
from tests.conftest import TaxiiClient
from tests.factories import World, indicator


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged, as the production JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def test_request_id_is_echoed_or_made(world: World) -> None:
    client = TaxiiClient(world.personas["acme"].basic)
    assert client.get("/taxii2/", **{"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
    made = client.get("/taxii2/")["X-Request-ID"]
    assert len(made) == 32 and made != "abc-123"
    # Not a plain token (it would go into the logs as given): replaced.
    odd = client.get("/taxii2/", **{"X-Request-ID": 'x" injected=1 next'})["X-Request-ID"]
    assert odd != 'x" injected=1 next' and len(odd) == 32
    assert Client().get("/healthz")["X-Request-ID"]


def test_every_log_line_of_a_request_carries_its_id(world: World, json_log: io.StringIO) -> None:
    client = TaxiiClient(world.personas["acme"].basic)
    envelope = orjson.dumps({"objects": [indicator(1)]})
    client.post(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/",
        envelope,
        **{"X-Request-ID": "req-post-1"},
    )
    client.get("/taxii2/intel/collections/nope/", **{"X-Request-ID": "req-404"})
    lines = _lines(json_log)
    stored = [line for line in lines if line["logger"] == "intelshare.ingest"]
    assert stored and all(line["request_id"] == "req-post-1" for line in stored)
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and not_found[-1]["request_id"] == "req-404"
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[0])
    logging.getLogger("after").info("outside a request")
    assert _lines(json_log)[-1]["request_id"] == "-"


def test_no_secret_in_the_logs(world: World, json_log: io.StringIO) -> None:
    staff = world.personas["staff"]
    api = Client(HTTP_AUTHORIZATION=staff.basic)
    created = api.post(
        "/api/v1/tokens/", {"user": staff.user.pk, "name": "x"}, content_type="application/json"
    ).json()
    TaxiiClient(f"Bearer {created['token']}").get("/taxii2/nope/")
    api.post(
        "/api/v1/users/",
        {"username": "u", "partner": "acme", "password": "pw-s3cret!"},
        content_type="application/json",
    )
    text = json_log.getvalue()
    assert created["token"] not in text and "pw-s3cret!" not in text
    assert "correct-horse" not in text  # the personas' password


def test_log_format_json_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import django, logging; django.setup(); logging.getLogger('probe').warning('hello %s', 42)"
    )
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "INTELSHARE_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    line = orjson.loads(done.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello 42" and line["logger"] == "probe"
    assert line["level"] == "WARNING" and line["request_id"] == "-"


def _metrics(client: Client | None = None, **headers: str) -> dict[str, float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    values: dict[str, float] = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_expose_requests_versions_ingest_queue_and_feeds(world: World) -> None:
    before = _metrics()
    key = 'intelshare_http_requests_total{endpoint="taxii:objects",method="GET",status="200"}'
    served = 'intelshare_versions_served_total{endpoint="Objects"}'
    stored = 'intelshare_ingest_objects_total{result="stored"}'
    ingest.store(collection=world.collection, objects=[indicator(1), indicator(2), {"bad": 1}])
    client = TaxiiClient(world.personas["globex"].basic)
    client.get(f"/taxii2/intel/collections/{world.collection.pk}/objects/")
    feed = sync_services.feed_create(
        name="acme-pull",
        partner=world.personas["acme"].user.partner,
        api_root_url="https://taxii.acme.example/api1/",
        remote_collection_id="c",
        collection=world.collection,
    )
    Feed.objects.filter(pk=feed.pk).update(
        consecutive_failures=3, last_success=timezone.now() - timezone.timedelta(hours=1)
    )
    cache.delete(observability.VERSIONS_KEY)  # as when its time to live runs out
    after = _metrics()
    assert after[key] == before.get(key, 0) + 1
    assert after[served] == before.get(served, 0) + 2
    assert after[stored] == before.get(stored, 0) + 2
    failed = 'intelshare_ingest_objects_total{result="failed"}'
    assert after[failed] == before.get(failed, 0) + 1
    assert after['intelshare_versions_stored{collection="llm-misuse"}'] == 2
    assert after["intelshare_statuses_pending"] == 0
    assert any(name.startswith("intelshare_queue_depth{") for name in after)
    assert after['intelshare_feed_consecutive_failures{feed="acme-pull"}'] == 3
    lag = after['intelshare_feed_lag_seconds{direction="pull",feed="acme-pull"}']
    assert 3500 < lag < 3700
    assert after['intelshare_feed_enabled{feed="acme-pull"}'] == 1
    buckets = [n for n in after if n.startswith("intelshare_http_request_duration_seconds_")]
    assert buckets


def test_versions_stored_is_counted_once_per_time_to_live(world: World) -> None:
    """Counting reads every index entry of a collection: scrapes within the TTL share one."""
    gauge = 'intelshare_versions_stored{collection="llm-misuse"}'
    assert _metrics()[gauge] == 0
    ingest.store(collection=world.collection, objects=[indicator(1)])
    with CaptureQueriesContext(connection) as queries:
        assert _metrics()[gauge] == 0
    assert not [q for q in queries.captured_queries if "objectversion" in q["sql"]]
    cache.delete(observability.VERSIONS_KEY)  # as when its time to live runs out
    assert _metrics()[gauge] == 1


def test_metrics_token(world: World, settings: Any) -> None:
    settings.INTELSHARE_METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert _metrics(HTTP_AUTHORIZATION="Bearer scrape-me")


def test_health_endpoints_stay_open(world: World) -> None:
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz", HTTP_ACCEPT=TAXII_21).status_code in (200, 503)
