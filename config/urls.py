"""URL routes: TAXII 2.1 under /taxii2/, TAXII 2.0 under /taxii20/, the management API
under /api/v1/, the Django admin under /admin/, the operator console under /console/
(and its dashboard or the public landing page at /), and the operational endpoints."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from console import pages
from intelshare import ops

urlpatterns = [
    path("", pages.home, name="home"),
    path("taxii2/", include("intelshare.taxii.urls")),
    path("taxii20/", include("intelshare.taxii20.urls")),
    path("api/v1/", RedirectView.as_view(pattern_name="api:docs"), name="api-index"),
    path("api/v1/", include("config.api_urls")),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]

# TAXII error messages (§3.6.1) under /taxii2/, JSON for API clients, pages otherwise.
handler400 = "console.errors.bad_request"
handler403 = "console.errors.forbidden"
handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
