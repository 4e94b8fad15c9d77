"""Shared fixtures: the database comes from DATABASE_URL (SQLite when unset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from intelshare.models import TAXII_21
from tests.factories import World, make_world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    on_sqlite = pytest.mark.skip(reason="postgres: needs DATABASE_URL=postgres://...")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(on_sqlite)


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    # Tests create many users; production keeps Django's PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Database ids are reused between tests; cached auth and rate limits must not be.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(db: None) -> World:
    return make_world()


class TaxiiClient:
    """A Django test client that speaks TAXII 2.1 as one persona."""

    def __init__(self, authorization: str | None) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {"Accept": TAXII_21}
        if authorization:
            self.headers["Authorization"] = authorization

    def get(self, path: str, data: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, data, headers={**self.headers, **headers})

    def post(
        self, path: str, body: bytes | str, content_type: str = TAXII_21, **headers: str
    ) -> Any:
        return self.client.post(
            path, body, content_type=content_type, headers={**self.headers, **headers}
        )

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, headers={**self.headers, **headers})


@pytest.fixture
def taxii(world: World) -> Any:
    """``taxii("acme")`` → a TAXII client authenticated as that persona."""

    def make(name: str | None, *, bearer: bool = False) -> TaxiiClient:
        if name is None:
            return TaxiiClient(None)
        persona = world.personas[name]
        return TaxiiClient(persona.bearer if bearer else persona.basic)

    return make


class Clock:
    """A controllable ``django.utils.timezone.now`` for time-travel tests."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from django.utils import timezone

    fake = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", fake)
    return fake
