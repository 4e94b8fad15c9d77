"""URL routes: TAXII 2.1 under /taxii2/, TAXII 2.0 under /taxii20/, the management API
under /api/v1/, the Django admin under /admin/, and the operational endpoints."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from intelshare import ops
from intelshare.taxii.errors import NotFound, render_error

urlpatterns = [
    path("taxii2/", include("intelshare.taxii.urls")),
    path("taxii20/", include("intelshare.taxii20.urls")),
    path("api/v1/", include("config.api_urls")),
    path("admin/", admin.site.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown URLs answer with a TAXII error message (§3.6.1), not an HTML page."""
    return render_error(NotFound("no such resource"))
