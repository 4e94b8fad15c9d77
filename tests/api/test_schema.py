"""The committed OpenAPI schema (docs/openapi.yaml) matches the code, the docs
pages use local assets, and the API honours the schema (schemathesis)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.factories import World

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
REGENERATE = ".venv/bin/python manage.py spectacular --file docs/openapi.yaml --validate"


def test_committed_schema_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(fresh), "--validate", "--fail-on-warn")
    assert fresh.read_text() == COMMITTED.read_text(), f"schema changed: run {REGENERATE}"


def test_schema_is_served_to_staff(api: Any) -> None:
    response = api().client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/preview/" in response.json()["paths"]


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_pages_use_local_assets(api: Any, page: str) -> None:
    response = api().client.get(f"/api/v1/{page}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assets = set(re.findall(r'"(/static/[^"]+)"', html))
    assert assets
    for asset in assets:  # served by the hub itself (whitenoise)
        assert api().client.get(asset).status_code == 200, asset


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(COMMITTED)
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """The WSGI handler closes the connection after each response; inside a test
    transaction it must stay open (Django's own test client does the same)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
@pytest.mark.usefixtures("keep_connection")
def test_api_honours_the_committed_schema(operation: Any, world: World) -> None:
    """Bounded random requests per operation, as staff: never a 5xx, and every
    documented response matches its schema."""
    from config.wsgi import application

    headers = {"Authorization": world.personas["staff"].basic}

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def exercise(case: Any) -> None:
        response = case.call(app=application, headers=headers)
        case.validate_response(response, checks=CHECKS)

    exercise()
