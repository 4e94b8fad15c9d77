"""Per-partner TAXII rate limits: ``429`` with ``Retry-After`` (RFC 6585)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Min
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from intelshare.models import Agreement


def _limit_key(partner_id: int) -> str:
    return f"taxii:rate-limit:{partner_id}"


def partner_limit(partner_id: int, cached: Any = None) -> int:
    """Requests per minute allowed to ``partner_id`` (0 = unlimited); ``cached`` is
    the cache's value when the caller already read it."""
    key = _limit_key(partner_id)
    limit = cache.get(key) if cached is None else cached
    if limit is None:
        agreed = Agreement.objects.filter(partner_id=partner_id).aggregate(
            lowest=Min("rate_limit")
        )["lowest"]
        limit = agreed if agreed is not None else settings.INTELSHARE_RATE_LIMIT
        cache.set(key, limit, 30)
    return int(limit)


class PartnerRateThrottle(SimpleRateThrottle):
    """A sliding one-minute window per partner; staff are not limited."""

    scope = "taxii"

    def get_rate(self) -> str | None:
        return None  # decided per request in allow_request

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if not user.is_authenticated or user.is_staff or user.partner_id is None:
            return None
        return f"taxii:throttle:{user.partner_id}"

    def allow_request(self, request: Request, view: Any) -> bool:
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        partner_id = request.user.partner_id
        # The limit and the history in one round trip to the cache.
        found = self.cache.get_many([_limit_key(partner_id), self.key])
        limit = partner_limit(partner_id, found.get(_limit_key(partner_id)))
        if limit <= 0:
            return True
        self.num_requests, self.duration = limit, 60
        self.history = found.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()
