"""Who may use the management API: the hub's own staff, never a partner."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from intelshare.auth import BearerTokenAuthentication, PartnerBasicAuthentication

# Basic first: an anonymous request gets 401 with ``WWW-Authenticate: Basic``.
AUTHENTICATION_CLASSES = [
    PartnerBasicAuthentication,
    BearerTokenAuthentication,
    SessionAuthentication,
]


def is_hub_staff(user: Any) -> bool:
    """Active staff that belongs to no partner (a partner's people are never staff)."""
    return bool(user and user.is_authenticated and user.is_hub_staff)


class IsHubStaff(BasePermission):
    """Hub staff only: partner users and their tokens get 403 on everything."""

    message = "The management API is for the hub's staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_hub_staff(request.user)
