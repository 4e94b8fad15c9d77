"""``/api/v1/``: the management API, its OpenAPI schema and its docs pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from intelshare.api import (
    schema,  # noqa: F401 - registers the authentication schemes
    sync,
    views,
)
from intelshare.api.base import StaffOnly

app_name = "api"

router = DefaultRouter()
router.include_root_view = False
router.register("partners", views.PartnerViewSet, basename="partner")
router.register("users", views.UserViewSet, basename="user")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("api-roots", views.ApiRootViewSet, basename="api-root")
router.register("collections", views.CollectionViewSet, basename="collection")
router.register("agreements", views.AgreementViewSet, basename="agreement")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("feeds", sync.FeedViewSet, basename="feed")
router.register("sync-runs", sync.SyncRunViewSet, basename="sync-run")
router.register("quarantine", sync.QuarantineViewSet, basename="quarantine")


class SchemaView(StaffOnly, SpectacularAPIView):
    pass


class DocsPage:
    """The docs pages are opened in a browser: without a session or credentials
    they send to the login page (no Basic password prompt), and a CSP keeps the
    page from loading anything from elsewhere (Redoc's footer logo is a CDN URL)."""

    CSP = ("img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
           "object-src 'none'")

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
    path("", include(router.urls)),
    path("explain/", views.ExplainView.as_view(), name="explain"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
]
