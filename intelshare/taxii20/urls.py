"""TAXII 2.0 URLs (CS01 §3.6 endpoint table) under ``/taxii20/``: the same API roots
and collections as ``/taxii2/``. TAXII 2.0 has no versions or delete endpoints."""

from django.urls import path

from intelshare.taxii20 import views

app_name = "taxii20"
urlpatterns = [
    path("", views.Discovery20View.as_view(), name="discovery"),
    path("<slug:root>/", views.ApiRoot20View.as_view(), name="api-root"),
    path("<slug:root>/status/<str:status_id>/", views.Status20View.as_view(), name="status"),
    path("<slug:root>/collections/", views.Collections20View.as_view(), name="collections"),
    path(
        "<slug:root>/collections/<str:ident>/", views.Collection20View.as_view(), name="collection"
    ),
    path(
        "<slug:root>/collections/<str:ident>/manifest/",
        views.Manifest20View.as_view(),
        name="manifest",
    ),
    path(
        "<slug:root>/collections/<str:ident>/objects/",
        views.Objects20View.as_view(),
        name="objects",
    ),
    path(
        "<slug:root>/collections/<str:ident>/objects/<str:object_id>/",
        views.Object20View.as_view(),
        name="object",
    ),
]
