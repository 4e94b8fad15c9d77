"""The hub's part of ``/api/v1/``: its viewsets (``router``), explain, preview, the
OpenAPI schema and the docs pages. ``config/api_urls.py`` adds the sync app's routes."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from intelshare.api import (
    schema,  # noqa: F401 - registers the authentication schemes
    views,
)
from intelshare.api.base import StaffOnly

router = DefaultRouter()
router.include_root_view = False
router.register("partners", views.PartnerViewSet, basename="partner")
router.register("users", views.UserViewSet, basename="user")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("api-roots", views.ApiRootViewSet, basename="api-root")
router.register("collections", views.CollectionViewSet, basename="collection")
router.register("agreements", views.AgreementViewSet, basename="agreement")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")


class SchemaView(StaffOnly, SpectacularAPIView):
    pass


class SwaggerView(StaffOnly, SpectacularSwaggerView):
    pass


class RedocView(StaffOnly, SpectacularRedocView):
    template_name = "intelshare/api/redoc.html"  # no web fonts from a CDN


urlpatterns = [
    path("explain/", views.ExplainView.as_view(), name="explain"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
]
