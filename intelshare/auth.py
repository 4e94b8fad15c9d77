"""Authentication of every door (TAXII, management API): HTTP Basic and bearer tokens."""

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


def _keyed(value: bytes) -> str:
    return hmac.new(str(settings.SECRET_KEY).encode(), value, hashlib.sha256).hexdigest()


def _cache_key(header: bytes) -> str:
    return f"taxii:basic:{_keyed(header)}"


def _password_fingerprint(user: User) -> str:
    """Changes whenever the stored password hash changes (new password, rehash)."""
    return _keyed(user.password.encode())


class PartnerBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic (RFC 7617) with a short-lived cache of verified credentials."""

    www_authenticate_realm = REALM

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        header = authentication.get_authorization_header(request)
        if not header.lower().startswith(b"basic "):
            return None
        key = _cache_key(header)
        cached = cache.get(key)
        if isinstance(cached, (list, tuple)) and len(cached) == 2:
            user_pk, fingerprint = cached
            user = User.objects.select_related("partner").filter(pk=user_pk, is_active=True).first()
            if user is not None and hmac.compare_digest(
                str(fingerprint), _password_fingerprint(user)
            ):
                return user, None
            cache.delete(key)
        result = super().authenticate(request)
        if result is not None:
            cache.set(
                key,
                (result[0].pk, _password_fingerprint(result[0])),
                settings.INTELSHARE_AUTH_CACHE_SECONDS,
            )
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
