"""Management API for partner feeds, their runs and the quarantine; feed
credentials are write-only.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from intelshare.api.base import Conflict, StaffOnly
from intelshare.api.fields import SecondsField, TlpField, field_errors
from intelshare.api.serializers import partner_field
from intelshare.models import Collection
from sync import services
from sync.models import Feed, Quarantine, SyncRun

_HEALTH = (
    "checkpoint",
    "push_cursor_date",
    "remote_added_last",
    "last_success",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "next_attempt",
    "created",
)


class FeedSerializer(serializers.ModelSerializer):
    partner = partner_field(help_text="The partner's slug.")
    collection = serializers.PrimaryKeyRelatedField(
        queryset=Collection.objects.all(), help_text="Local collection."
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=4000,
        style={"input_type": "password"},
        help_text="Password (basic), token (bearer) or header value. Write-only; omit to "
        "keep the stored one, empty to remove it.",
    )
    has_secret = serializers.BooleanField(read_only=True)
    interval = SecondsField(
        min_value=1, max_value=30 * 86400, required=False, help_text="Seconds between runs."
    )
    default_tlp = TlpField(required=False, help_text="TLP assumed for unmarked pulled objects.")
    page_size = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, help_text="Objects asked for per request."
    )
    lag_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Feed
        fields = (
            "id",
            "name",
            "partner",
            "direction",
            "collection",
            "enabled",
            "api_root_url",
            "remote_collection_id",
            "taxii_version",
            "auth_type",
            "username",
            "header_name",
            "secret",
            "has_secret",
            "verify_tls",
            "ca_bundle",
            "client_cert",
            "client_key",
            "interval",
            "page_size",
            "default_tlp",
            *_HEALTH,
            "lag_seconds",
        )
        read_only_fields = _HEALTH

    def get_lag_seconds(self, feed: Feed) -> float | None:
        lag = feed.lag(timezone.now())
        return None if lag is None else lag.total_seconds()

    def create(self, validated_data: dict[str, Any]) -> Feed:
        with field_errors():
            return services.feed_create(**validated_data)

    @transaction.atomic
    def update(self, instance: Feed, validated_data: dict[str, Any]) -> Feed:
        # Save only what changed: a run may be moving the checkpoint and the
        # health columns of this row at the same moment (as sync's admin does).
        secret = validated_data.pop("secret", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        with field_errors():
            instance.full_clean(exclude=["secret_encrypted"])
        if validated_data:
            instance.save(update_fields=list(validated_data))
        if secret is not None:
            services.feed_set_secret(feed=instance, secret=secret)
        instance.refresh_from_db()
        return instance


class SyncRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = (
            "id",
            "feed",
            "direction",
            "task_id",
            "outcome",
            "started",
            "finished",
            "duration_seconds",
            "pages",
            "fetched",
            "stored",
            "duplicates",
            "quarantined",
            "pushed",
            "rejected",
            "rejections",
            "error",
            "checkpoint_before",
            "checkpoint_after",
        )
        read_only_fields = fields

    def get_duration_seconds(self, run: SyncRun) -> float | None:
        return None if run.duration is None else run.duration.total_seconds()


class QuarantineSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Quarantine
        fields = (
            "id",
            "feed",
            "run",
            "stix_id",
            "version",
            "raw",
            "reason",
            "state",
            "created",
            "decided_at",
            "decided_by",
        )
        read_only_fields = fields


class ReleaseSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Stored (or already present) through ingest.")
    message = serializers.CharField(allow_blank=True)
    item = QuarantineSerializer()


class FeedFilter(filters.FilterSet):
    partner = filters.CharFilter(field_name="partner__slug", help_text="partner slug")
    failing = filters.BooleanFilter(method="filter_failing", help_text="with consecutive failures")

    class Meta:
        model = Feed
        fields = ("partner", "direction", "enabled", "collection", "failing")

    def filter_failing(self, queryset: Any, name: str, value: bool) -> Any:
        return (
            queryset.filter(consecutive_failures__gt=0)
            if value
            else queryset.filter(consecutive_failures=0)
        )


BUSY = OpenApiResponse(description="A run holds the feed, or the item was already decided.")


@extend_schema_view(
    run=extend_schema(request=None, responses={202: FeedSerializer, 409: BUSY}),
    pause=extend_schema(request=None, responses={200: FeedSerializer}),
    resume=extend_schema(request=None, responses={200: FeedSerializer}),
    reset=extend_schema(request=None, responses={200: FeedSerializer, 409: BUSY}),
)
class FeedViewSet(StaffOnly, viewsets.ModelViewSet):
    """Partner TAXII feeds (pull or push), with health and position."""

    queryset = Feed.objects.select_related("partner", "collection").all()
    serializer_class = FeedSerializer
    filterset_class = FeedFilter
    search_fields = ("name", "api_root_url", "remote_collection_id")
    ordering_fields = ("name", "last_success", "next_attempt", "consecutive_failures")
    ordering = ("name",)

    def _answer(self, feed: Feed, status: int = 200) -> Response:
        feed.refresh_from_db()
        return Response(FeedSerializer(feed).data, status=status)

    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        """Enqueue a run now (a paused feed must be resumed first)."""
        feed = self.get_object()
        if not feed.enabled:
            raise Conflict("The feed is paused; resume it first.")
        services.feed_run_now(feed=feed)
        return self._answer(feed, status=202)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        feed = self.get_object()
        services.feed_pause(feed=feed)
        return self._answer(feed)

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        feed = self.get_object()
        services.feed_resume(feed=feed)
        return self._answer(feed)

    @action(detail=True, methods=["post"])
    def reset(self, request: Request, pk: str | None = None) -> Response:
        """Start over at the next run (pull or push everything again)."""
        feed = self.get_object()
        try:
            services.feed_reset_position(feed=feed)
        except services.FeedBusy as exc:
            raise Conflict(str(exc)) from None
        return self._answer(feed)


class SyncRunViewSet(StaffOnly, viewsets.ReadOnlyModelViewSet):
    """Every run of every feed, newest first."""

    queryset = SyncRun.objects.all()
    serializer_class = SyncRunSerializer
    filterset_fields = ("feed", "direction", "outcome")
    ordering_fields = ("started", "finished")
    ordering = ("-started", "-id")


@extend_schema_view(
    release=extend_schema(request=None, responses={200: ReleaseSerializer, 409: BUSY}),
    discard=extend_schema(request=None, responses={200: QuarantineSerializer, 409: BUSY}),
)
class QuarantineViewSet(
    StaffOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Inbound objects that failed validation: review, release, discard."""

    queryset = Quarantine.objects.select_related("decided_by").all()
    serializer_class = QuarantineSerializer
    filterset_fields = ("feed", "state", "stix_id")
    search_fields = ("stix_id", "reason")
    ordering_fields = ("created", "decided_at")
    ordering = ("-created", "-id")

    def _pending(self) -> Quarantine:
        item = self.get_object()
        if item.state != Quarantine.PENDING:
            raise Conflict(f"Already {item.state}.")
        return item

    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        """Store the object through ingest as the feed partner's contribution, if it
        now passes validation; otherwise it stays pending with the new reason."""
        item = self._pending()
        outcome = services.quarantine_release(item=item, by=request.user)
        body = {"ok": outcome.ok, "message": outcome.message, "item": item}
        return Response(ReleaseSerializer(body).data)

    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        item = self._pending()
        services.quarantine_discard(item=item, by=request.user)
        item.refresh_from_db()
        return Response(QuarantineSerializer(item).data)


router = DefaultRouter()
router.include_root_view = False
router.register("feeds", FeedViewSet, basename="feed")
router.register("sync-runs", SyncRunViewSet, basename="sync-run")
router.register("quarantine", QuarantineViewSet, basename="quarantine")
