"""TAXII authentication: HTTP Basic (what most TAXII clients speak) and bearer tokens.

Password hashing is deliberately slow, and TAXII clients send Basic on every
page, so a verified credential is remembered briefly, keyed by an HMAC of the
header under the secret key (never the password itself; DESIGN.md "Traps").
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from intelshare.models import ApiToken, User

REALM = "intelshare"


def _cache_key(header: bytes) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), header, hashlib.sha256).hexdigest()
    return f"taxii:basic:{digest}"


class PartnerBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic (RFC 7617) with a short-lived cache of verified credentials."""

    www_authenticate_realm = REALM

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        header = authentication.get_authorization_header(request)
        if not header.lower().startswith(b"basic "):
            return None
        key = _cache_key(header)
        user_pk = cache.get(key)
        if user_pk is not None:
            user = User.objects.select_related("partner").filter(
                pk=user_pk, is_active=True).first()
            if user is not None:
                return user, None
        result = super().authenticate(request)
        if result is not None:
            cache.set(key, result[0].pk, settings.TAXII_AUTH_CACHE_SECONDS)
        return result


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a partner user's API token."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("malformed bearer token header")
        try:
            plaintext = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("malformed bearer token") from None
        token = ApiToken.find_active(plaintext)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return f'Bearer realm="{REALM}"'
