"""Management API views: partners, users, tokens, API roots, collections,
agreements, audit events, explain and preview (hub staff only)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from intelshare import accounts, audit, policy, preview, services
from intelshare.api import filters
from intelshare.api import serializers as s
from intelshare.api.base import Conflict, NewestFirst, StaffOnly, delete_or_conflict
from intelshare.models import Agreement, ApiRoot, ApiToken, AuditEvent, Collection, Partner, User

CONFLICT = OpenApiResponse(description="Still referenced, or in a state that forbids it.")


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class PartnerViewSet(StaffOnly, viewsets.ModelViewSet):
    """Partner organisations. A partner with users or feeds cannot be deleted."""

    queryset = Partner.objects.all()
    serializer_class = s.PartnerSerializer
    lookup_field = "slug"
    filterset_class = filters.PartnerFilter
    search_fields = ("name", "slug", "description")
    ordering_fields = ("name", "slug", "created")
    ordering = ("name",)

    def perform_destroy(self, instance: Partner) -> None:
        delete_or_conflict(instance, what="partner")


def _require_superuser_for_staff(request: Request, target_is_staff: bool) -> None:
    if target_is_staff and not request.user.is_superuser:
        raise exceptions.PermissionDenied("Only superusers may manage staff accounts.")


class UserViewSet(StaffOnly, viewsets.ModelViewSet):
    """People and service accounts: a partner's users, and the hub's staff.
    Staff accounts are managed by superusers only."""

    queryset = User.objects.select_related("partner").all()
    serializer_class = s.UserSerializer
    filterset_class = filters.UserFilter
    search_fields = ("username", "email", "first_name", "last_name")
    ordering_fields = ("username", "date_joined", "last_login")
    ordering = ("username",)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        _require_superuser_for_staff(self.request, serializer.validated_data.get("is_staff", False))
        serializer.save()

    def get_object(self) -> User:
        user: User = super().get_object()
        if self.request.method not in SAFE_METHODS:
            _require_superuser_for_staff(self.request, user.is_staff)
        return user

    def perform_destroy(self, instance: User) -> None:
        if instance.pk == self.request.user.pk:
            raise Conflict("You cannot delete your own account.")
        delete_or_conflict(instance, what="user")


@extend_schema_view(
    create=extend_schema(request=s.ApiTokenSerializer, responses={201: s.IssuedTokenSerializer}),
    revoke=extend_schema(request=None, responses={200: s.ApiTokenSerializer}),
)
class ApiTokenViewSet(
    StaffOnly,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens. The token itself is in the create response only (it is
    stored hashed); revoke instead of deleting, so audit events keep their token."""

    queryset = ApiToken.objects.select_related("user", "user__partner").all()
    serializer_class = s.ApiTokenSerializer
    filterset_class = filters.ApiTokenFilter
    search_fields = ("name", "hint", "user__username")
    ordering_fields = ("created", "expires_at", "last_used_at", "name")
    ordering = ("-created",)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if user.pk != request.user.pk:
            _require_superuser_for_staff(request, user.is_staff)
        token = serializer.save()
        return Response(s.IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = self.get_object()
        if token.user.pk != request.user.pk:
            _require_superuser_for_staff(request, token.user.is_staff)
        return Response(s.ApiTokenSerializer(accounts.token_revoke(token=token)).data)


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class ApiRootViewSet(StaffOnly, viewsets.ModelViewSet):
    """TAXII API roots (served at ``/taxii2/<slug>/``)."""

    queryset = ApiRoot.objects.all()
    serializer_class = s.ApiRootSerializer
    lookup_field = "slug"
    search_fields = ("slug", "title")
    ordering_fields = ("slug", "title")
    ordering = ("slug",)

    def perform_destroy(self, instance: ApiRoot) -> None:
        delete_or_conflict(instance, what="API root")


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class CollectionViewSet(StaffOnly, viewsets.ModelViewSet):
    """TAXII collections; ``default_tlp`` changes go through the service (lowering it
    widens), and a collection holding versions cannot be deleted.
    """

    queryset = Collection.objects.select_related("api_root").all()
    serializer_class = s.CollectionSerializer
    filterset_class = filters.CollectionFilter
    search_fields = ("title", "alias", "description")
    ordering_fields = ("created", "title", "alias")
    ordering = ("created", "id")

    def perform_destroy(self, instance: Collection) -> None:
        if policy.catalogue(collection=instance).exists():
            raise Conflict(
                "The collection holds object versions; delete them first "
                "(TAXII DELETE), or keep the collection."
            )
        delete_or_conflict(instance, what="collection")


@extend_schema_view(revoke=extend_schema(request=None, responses={200: s.AgreementSerializer}))
class AgreementViewSet(StaffOnly, viewsets.ModelViewSet):
    """Sharing agreements: every rule, consents and grants; written through
    ``intelshare.services`` so that a widening is recorded."""

    queryset = (
        Agreement.objects.select_related("partner").prefetch_related("consents", "grants").all()
    )
    serializer_class = s.AgreementSerializer
    filterset_class = filters.AgreementFilter
    search_fields = ("name", "partner__name", "partner__slug")
    ordering_fields = ("name", "created", "updated", "valid_from", "valid_until")
    ordering = ("partner__name", "name")

    def perform_destroy(self, instance: Agreement) -> None:
        services.agreement_delete(agreement=instance)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """End the agreement now: the partner's next request finds no access."""
        agreement = self.get_object()
        services.agreement_revoke(agreement=agreement)
        agreement.refresh_from_db()
        return Response(s.AgreementSerializer(agreement).data)


class AuditEventViewSet(StaffOnly, viewsets.ReadOnlyModelViewSet):
    """Who asked what, and which versions were served or stored (newest first)."""

    queryset = AuditEvent.objects.select_related("partner", "user").all()
    serializer_class = s.AuditEventSerializer
    pagination_class = NewestFirst
    filterset_class = filters.AuditEventFilter
    ordering_fields: tuple[str, ...] = ()


class ExplainView(StaffOnly, APIView):
    """For every stored version of an object: shared with the partner or not, the
    rule that decided, and which versions the partner received."""

    @extend_schema(parameters=[s.ExplainQuerySerializer], responses={200: s.ExplanationSerializer})
    def get(self, request: Request) -> Response:
        query = s.ExplainQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        partner, stix_id = query.validated_data["partner"], query.validated_data["stix_id"]
        now = timezone.now()
        found = policy.explain(partner=partner, stix_id=stix_id, now=now)
        body = {
            "partner": partner.slug,
            "stix_id": stix_id,
            "now": now,
            "versions": found,
            "received": audit.received(partner=partner, stix_id=stix_id),
        }
        return Response(s.ExplanationSerializer(body).data)


class PreviewView(StaffOnly, APIView):
    """What a partner would receive from a collection right now, a keyset page at a
    time; on the first page, how many versions each rule withholds.
    """

    @extend_schema(parameters=[s.PreviewQuerySerializer], responses={200: s.PreviewSerializer})
    def get(self, request: Request) -> Response:
        query = s.PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        args = query.validated_data
        partner, collection, cursor = args["partner"], args["collection"], args.get("cursor")
        now = timezone.now()
        try:
            found = preview.page(
                partner=partner, collection=collection, now=now, cursor=cursor, limit=args["limit"]
            )
        except preview.BadCursor as exc:
            raise serializers.ValidationError({"cursor": str(exc)}) from None
        summary = None
        if args["summary"] and not cursor:
            summary = preview.summary(partner=partner, collection=collection, now=now)
        body = {
            "partner": partner.slug,
            "collection": collection.pk,
            "now": now,
            "versions": found.rows,
            "next": found.next,
            "summary": summary,
        }
        return Response(s.PreviewSerializer(body).data)
