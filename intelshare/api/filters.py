"""Query filters of the management API's lists (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget

from intelshare import audit, policy
from intelshare.models import Agreement, ApiToken, AuditEvent, Collection, Partner, User


class UserFilter(filters.FilterSet):
    partner = filters.CharFilter(field_name="partner__slug", help_text="partner slug")

    class Meta:
        model = User
        fields = ("partner", "is_staff", "is_active")


class ApiTokenFilter(filters.FilterSet):
    partner = filters.CharFilter(field_name="user__partner__slug", help_text="partner slug")
    active = filters.BooleanFilter(method="filter_active", help_text="neither revoked nor expired")

    class Meta:
        model = ApiToken
        fields = ("user", "partner", "active")

    def filter_active(
        self, queryset: QuerySet[ApiToken], name: str, value: bool
    ) -> QuerySet[ApiToken]:
        from django.utils import timezone

        live = Q(revoked_at__isnull=True) & (
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        return queryset.filter(live) if value else queryset.exclude(live)


class CollectionFilter(filters.FilterSet):
    api_root = filters.CharFilter(field_name="api_root__slug", help_text="API root slug")

    class Meta:
        model = Collection
        fields = ("api_root", "alias", "default_tlp")


class AgreementFilter(filters.FilterSet):
    partner = filters.CharFilter(field_name="partner__slug", help_text="partner slug")
    collection = filters.UUIDFilter(
        field_name="grants__collection",
        distinct=True,
        help_text="agreements with a grant on this collection",
    )

    class Meta:
        model = Agreement
        fields = ("partner", "collection", "granular_mode")


class _UtcDateTimeField(IsoDateTimeField):
    """ISO 8601 read as UTC: Python accepts offsets PostgreSQL refuses (over 15:59)."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        try:
            return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo else parsed
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class _UtcDateTimeRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((_UtcDateTimeField(), _UtcDateTimeField()), *args, **kwargs)


class _UtcDateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    field_class = _UtcDateTimeRangeField


class AuditEventFilter(filters.FilterSet):
    partner = filters.CharFilter(field_name="partner__slug", help_text="partner slug")
    collection = filters.UUIDFilter(field_name="collection")
    object_id = filters.CharFilter(
        method="filter_object",
        help_text="STIX id: requests for this object, and those that served or stored a "
        "version of it",
    )
    at = _UtcDateTimeRangeFilter(help_text="time range: at_after=…&at_before=… (ISO 8601)")

    class Meta:
        model = AuditEvent
        fields = ("partner", "collection", "object_id", "method", "endpoint", "status_code", "at")

    def filter_object(
        self, queryset: QuerySet[AuditEvent], name: str, value: str
    ) -> QuerySet[AuditEvent]:
        pks: list[int] = []
        for collection in Collection.objects.all():
            stored = policy.catalogue(collection=collection).filter(stix_id=value)
            pks += list(stored.values_list("pk", flat=True)[:200])
        named = Q(object_id=value)
        return queryset.filter(named | audit.carrying_q(pks) if pks else named)


class PartnerFilter(filters.FilterSet):
    class Meta:
        model = Partner
        fields = ("slug",)
