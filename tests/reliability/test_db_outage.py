"""The database going away, simulated in the test process.

The real drill restarts PostgreSQL under gunicorn (``python -m tools.drills --only
pg-post --only pg-pull``); restarting the machine's PostgreSQL from pytest
would break every other database user, so here the outage is made inside
this process: the connection is closed and new connections are refused (on
PostgreSQL also for real, by pointing the connection at a closed port), or
one write fails half-way. What must hold is the same: the TAXII view answers
``503`` with ``Retry-After`` and a TAXII error message (§3.6.1), never a 500
or a traceback, and nothing is stored.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import orjson
import pytest
from django.db import InterfaceError, OperationalError, connection, connections

from intelshare.models import TAXII_21, AuditEvent, ObjectVersion, Status
from tests.factories import World, indicator

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]


def _counts() -> tuple[int, int, int]:
    return ObjectVersion.objects.count(), Status.objects.count(), AuditEvent.objects.count()


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("could not connect to server: Connection refused (simulated)")


@contextmanager
def database_down() -> Iterator[None]:
    """Every open connection dropped and every new one refused, as while PostgreSQL
    restarts; the connection comes back by itself afterwards (lazy reconnect)."""
    wrapper = connections["default"]
    wrapper.close()
    with mock.patch.object(type(wrapper), "get_new_connection", _refuse):
        yield
    wrapper.close()


@contextmanager
def database_port_closed() -> Iterator[None]:
    """PostgreSQL only: the real driver connecting to a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = port
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


def assert_unavailable(response: Any) -> None:
    """A §3.6.1 error message with HTTP 503 and a numeric Retry-After."""
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == TAXII_21
    assert response["Retry-After"].isdigit()
    body = orjson.loads(response.content)
    assert body["http_status"] == "503"
    assert body["title"] == "Service Unavailable"
    assert "Traceback" not in response.content.decode()


def _objects(world: World) -> str:
    return f"/taxii2/intel/collections/{world.collection.pk}/objects/"


def _envelope(*numbers: int) -> bytes:
    return orjson.dumps({"objects": [indicator(n) for n in numbers]})


@pytest.mark.parametrize("method", ["get", "post"])
def test_database_unreachable_answers_503_and_stores_nothing(
    world: World, taxii: Any, method: str
) -> None:
    client = taxii("acme")
    before = _counts()
    with database_down():
        if method == "get":
            response = client.get(_objects(world))
        else:
            response = client.post(_objects(world), _envelope(1, 2, 3))
    assert_unavailable(response)
    assert _counts() == before
    # Recovered by itself: the next request reconnects.
    assert client.get(_objects(world)).status_code == 200


@pytest.mark.postgres
def test_database_port_closed_answers_503(world: World, taxii: Any) -> None:
    client = taxii("acme")
    before = _counts()
    with database_port_closed():
        assert_unavailable(client.post(_objects(world), _envelope(1, 2)))
        assert_unavailable(client.get(_objects(world)))
    assert _counts() == before
    assert client.get(_objects(world)).status_code == 200


def test_connection_lost_half_way_through_a_post_stores_nothing(world: World, taxii: Any) -> None:
    """The versions' INSERT fails after the status row was written: all or nothing."""
    before = _counts()[:2]
    # The versions' INSERT (COPY on PostgreSQL, bulk_create elsewhere) goes through
    # intelshare.bulk on every backend.
    with mock.patch(
        "intelshare.db.bulk.insert_returning_pks",
        side_effect=OperationalError("server closed the connection unexpectedly (simulated)"),
    ):
        response = taxii("acme").post(_objects(world), _envelope(1, 2, 3))
    assert_unavailable(response)
    assert _counts()[:2] == before


def test_connection_lost_on_a_large_post_sends_no_task(
    world: World, taxii: Any, settings: Any
) -> None:
    """A worker-bound envelope whose status row cannot be written: no task is sent."""
    settings.INTELSHARE_INLINE_MAX_OBJECTS = 1
    before = _counts()[:2]
    with (
        mock.patch("intelshare.submissions._send_process") as delay,
        mock.patch.object(Status.objects, "create", side_effect=OperationalError("simulated")),
    ):
        response = taxii("acme").post(_objects(world), _envelope(1, 2, 3))
    assert_unavailable(response)
    assert _counts()[:2] == before
    delay.assert_not_called()


@pytest.mark.parametrize(
    "error",
    [
        OperationalError,
        InterfaceError,
    ],
)
def test_audit_write_failing_answers_503_instead_of_the_page(
    world: World, taxii: Any, error: type[Exception]
) -> None:
    """Data served without its audit record would be unaccounted for."""
    taxii("staff").post(_objects(world), _envelope(1))
    before = _counts()
    with mock.patch("intelshare.audit._insert", side_effect=error("simulated")):
        response = taxii("acme").get(_objects(world))
    assert_unavailable(response)
    assert b"indicator--" not in response.content
    assert _counts() == before


def test_audit_write_failing_on_a_post_stores_nothing(world: World, taxii: Any) -> None:
    before = _counts()
    with mock.patch("intelshare.audit._insert", side_effect=OperationalError("simulated")):
        response = taxii("acme").post(_objects(world), _envelope(1, 2))
    assert_unavailable(response)
    assert _counts() == before


def test_broker_down_after_commit_still_answers_202(
    world: World, taxii: Any, settings: Any
) -> None:
    """The envelope is persisted before 202; a broker that refuses the task message
    leaves the status pending for resume_pending (beat) instead of a 500."""
    from kombu.exceptions import OperationalError as BrokerDown

    settings.INTELSHARE_INLINE_MAX_OBJECTS = 1
    with mock.patch(
        "intelshare.submissions._send_process",
        side_effect=BrokerDown("Error 111 connecting to 127.0.0.1:6379"),
    ):
        response = taxii("acme").post(_objects(world), _envelope(1, 2, 3))
    assert response.status_code == 202
    status = Status.objects.get(pk=orjson.loads(response.content)["id"])
    assert (status.status, status.pending_count) == (Status.PENDING, 3)


def test_cache_down_answers_503_not_500(world: World, taxii: Any) -> None:
    """CACHE_URL=redis://… holds verified credentials and rate limits; Redis gone
    means 503 + Retry-After (python -m tools.drills --only redis-queued does it for real)."""
    from redis.exceptions import ConnectionError as RedisDown

    with mock.patch(
        "intelshare.auth.cache.get", side_effect=RedisDown("Error 111 connecting to 127.0.0.1:6379")
    ):
        response = taxii("acme").get(_objects(world))
    assert_unavailable(response)
