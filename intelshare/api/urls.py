"""The hub's part of ``/api/v1/``: its viewsets (``router``), explain, preview, the
OpenAPI schema and the docs pages. ``config/api_urls.py`` adds the sync app's routes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
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


class DocsPage:
    """The docs pages are opened in a browser: without a session or credentials
    they send to the login page (no Basic password prompt), and a CSP keeps the
    page from loading anything from elsewhere (Redoc's footer logo is a CDN URL)."""

    CSP = "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "HTTP_AUTHORIZATION" not in request.META and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = self.CSP
        return response


class SwaggerView(DocsPage, StaffOnly, SpectacularSwaggerView):
    pass


class RedocView(DocsPage, StaffOnly, SpectacularRedocView):
    template_name = "intelshare/api/redoc.html"  # no web fonts from a CDN


urlpatterns = [
    path("explain/", views.ExplainView.as_view(), name="explain"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
]
