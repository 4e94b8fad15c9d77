"""``/api/v1/``: the management API of the hub and of the sync app, one namespace."""

from django.urls import include, path

from intelshare.api import urls as hub
from sync import api as sync

app_name = "api"

urlpatterns = [
    path("", include(hub.router.urls)),
    path("", include(sync.router.urls)),
    *hub.urlpatterns,
]
