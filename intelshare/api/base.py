"""What every management API view shares: staff-only access, pages, conflicts."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, ProtectedError
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser

from intelshare import paths
from intelshare.api.permissions import AUTHENTICATION_CLASSES, IsHubStaff


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is in use."
    default_code = "conflict"


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class NewestFirst(CursorPagination):
    """For append-only logs (audit events): no COUNT over a large table."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-at", "-id")


class StaffOnly:
    """Mixed into every view of the management API."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [IsHubStaff]
    parser_classes = [JSONParser]  # nested grants and lists: JSON bodies only

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Before the lookup: PostgreSQL text cannot even be compared with NUL.
        if not paths.nameable(kwargs):
            raise exceptions.NotFound()


def delete_or_conflict(instance: Model, *, what: str) -> None:
    """Delete ``instance``; rows that protect it make a 409 that names them."""
    try:
        instance.delete()
    except ProtectedError as exc:
        kinds = sorted({type(obj)._meta.verbose_name_plural for obj in exc.protected_objects})
        raise Conflict(
            f"This {what} is still referenced by {', '.join(map(str, kinds))}; remove those first."
        ) from None
