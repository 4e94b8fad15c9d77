"""Credential checks: tokens found by digest, passwords through
Django's hashers and a constant-time comparison, nothing secret kept in the cache,
revocation at the next request.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import hashers
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intelshare import accounts
from intelshare.models import ApiToken
from tests.factories import PASSWORD, World

ENDPOINTS = ("/taxii2/", "/taxii2/intel/collections/", "/api/v1/partners/")


def _bearer(token: str, *, accept: str = "application/taxii+json") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=accept)


def _basic(username: str, password: str) -> Client:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {raw}", HTTP_ACCEPT="application/taxii+json")


def test_a_token_is_stored_only_as_its_sha256(world: World) -> None:
    user = world.personas["acme"].user
    token, plaintext = accounts.token_issue(user=user, name="digest-check")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert row["digest"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert all(plaintext not in str(value) for value in row.values())
    assert plaintext.startswith(row["hint"]) and len(row["hint"]) <= 12


def test_the_token_lookup_is_by_digest(world: World) -> None:
    """The plaintext never reaches the database: the query compares the SHA-256, an
    indexed equality on a value the caller cannot steer prefix by prefix."""
    token = world.personas["acme"].token
    with CaptureQueriesContext(connection) as queries:
        assert _bearer(token).get("/taxii2/").status_code == 200
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert token not in sql
    assert hashlib.sha256(token.encode()).hexdigest() in sql


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wrong_and_right_prefix_wrong_suffix_tokens_get_401(world: World, endpoint: str) -> None:
    token = world.personas["acme"].token
    accept = "application/json" if endpoint.startswith("/api/") else "application/taxii+json"
    last = "A" if token[-1] != "A" else "B"
    for wrong in (
        ApiToken.PREFIX + "x" * 43,
        token[:-1] + last,
        token[:-8],
        token + "x",
        token.upper(),
    ):
        response = _bearer(wrong, accept=accept).get(endpoint)
        assert response.status_code == 401, (wrong, response.content)
        assert token not in response.content.decode()
    # The right token: TAXII answers; the API refuses a partner (staff only).
    assert _bearer(token, accept=accept).get(endpoint).status_code in (200, 403)


def test_revoked_and_expired_tokens_get_401(world: World) -> None:
    user = world.personas["acme"].user
    revoked, revoked_text = accounts.token_issue(user=user, name="revoked")
    assert _bearer(revoked_text).get("/taxii2/").status_code == 200
    accounts.token_revoke(token=revoked)
    assert _bearer(revoked_text).get("/taxii2/").status_code == 401
    expired, expired_text = accounts.token_issue(
        user=user, name="expiring", expires_at=timezone.now() + timezone.timedelta(seconds=60)
    )
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    assert _bearer(expired_text).get("/taxii2/").status_code == 401


def test_basic_checks_the_password_with_the_hasher_in_constant_time(world: World) -> None:
    username = world.personas["acme"].user.username
    with mock.patch.object(
        hashers, "constant_time_compare", wraps=hashers.constant_time_compare
    ) as compare:
        assert _basic(username, PASSWORD + "x").get("/taxii2/").status_code == 401
        assert _basic(username, PASSWORD[:-1]).get("/taxii2/").status_code == 401
    assert compare.call_count == 2


def test_basic_for_an_unknown_user_still_runs_the_hasher(world: World) -> None:
    """Django's ModelBackend hashes the password for unknown users too, so a
    missing account answers in the same time as a wrong password."""
    with mock.patch.object(
        hashers.MD5PasswordHasher,
        "encode",
        autospec=True,
        side_effect=hashers.MD5PasswordHasher.encode,
    ) as run:
        assert _basic("no-such-user", PASSWORD).get("/taxii2/").status_code == 401
    assert run.call_count >= 1


def test_the_verified_credential_cache_holds_no_secret(world: World) -> None:
    """The cache (LocMem or Redis) keeps an HMAC of the header, the user id and an HMAC
    of the stored password hash: nothing a reader of the cache could log in with."""
    from intelshare import auth

    persona = world.personas["acme"]
    assert (
        Client(HTTP_AUTHORIZATION=persona.basic, HTTP_ACCEPT="application/taxii+json")
        .get("/taxii2/")
        .status_code
        == 200
    )
    key = auth._cache_key(persona.basic.encode())
    user_pk, fingerprint = cache.get(key)
    assert user_pk == persona.user.pk
    header = persona.basic.split()[1]
    persona.user.refresh_from_db()
    for secret in (PASSWORD, header, persona.user.password):
        assert secret not in key
        assert secret not in str(fingerprint)


def test_a_deactivated_user_is_refused_at_once_despite_the_cache(world: World) -> None:
    persona = world.personas["acme"]
    client = Client(HTTP_AUTHORIZATION=persona.basic, HTTP_ACCEPT="application/taxii+json")
    assert client.get("/taxii2/").status_code == 200  # now cached
    persona.user.is_active = False
    persona.user.save(update_fields=["is_active"])
    assert client.get("/taxii2/").status_code == 401
    assert _bearer(persona.token).get("/taxii2/").status_code == 401


def test_session_cookie_is_http_only_and_frames_are_denied(settings: Any) -> None:
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.X_FRAME_OPTIONS == "DENY"


def test_a_changed_password_stops_working_at_once(world: World) -> None:
    """The old password must not outlive a change for INTELSHARE_AUTH_CACHE_SECONDS."""
    persona = world.personas["acme"]
    client = Client(HTTP_AUTHORIZATION=persona.basic, HTTP_ACCEPT="application/taxii+json")
    assert client.get("/taxii2/").status_code == 200  # now cached
    persona.user.set_password("a-brand-new-password-42")
    persona.user.save(update_fields=["password"])
    assert client.get("/taxii2/").status_code == 401
    assert (
        _basic(persona.user.username, "a-brand-new-password-42").get("/taxii2/").status_code == 200
    )
