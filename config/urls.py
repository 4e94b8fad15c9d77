"""URL routes: TAXII 2.1 under /taxii2/, the Django admin under /admin/."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from intelshare import ops
from intelshare.taxii.errors import NotFound, render_error

urlpatterns = [
    path("taxii2/", include("intelshare.taxii.urls")),
    path("admin/", admin.site.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown URLs answer with a TAXII error message (§3.6.1), not an HTML page."""
    return render_error(NotFound("no such resource"))
