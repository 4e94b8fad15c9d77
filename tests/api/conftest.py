"""Clients of the management API, one per persona (tests/factories.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import World


class Api:
    """A JSON client of ``/api/v1/`` that authenticates as one persona."""

    def __init__(self, authorization: str | None) -> None:
        self.client = APIClient()
        if authorization:
            self.client.credentials(HTTP_AUTHORIZATION=authorization)

    def get(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1/{path}", data)

    def post(self, path: str, data: Any = None) -> Any:
        return self.client.post(f"/api/v1/{path}", data, format="json")

    def patch(self, path: str, data: Any) -> Any:
        return self.client.patch(f"/api/v1/{path}", data, format="json")

    def put(self, path: str, data: Any) -> Any:
        return self.client.put(f"/api/v1/{path}", data, format="json")

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1/{path}")


@pytest.fixture
def api(world: World) -> Any:
    """``api("staff")``, ``api("acme", bearer=True)``, ``api(None)`` (anonymous)."""

    def make(name: str | None = "staff", *, bearer: bool = False) -> Api:
        if name is None:
            return Api(None)
        persona = world.personas[name]
        return Api(persona.bearer if bearer else persona.basic)

    return make


@pytest.fixture
def superuser(world: World) -> Any:
    """The staff persona made a superuser (may manage staff accounts)."""
    user = world.personas["staff"].user
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user
