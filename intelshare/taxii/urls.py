"""TAXII 2.1 URLs (§3.1 endpoint table); every path ends with a slash."""

from django.urls import path

from intelshare.taxii import views

app_name = "taxii"
urlpatterns = [
    path("", views.DiscoveryView.as_view(), name="discovery"),
    path("<slug:root>/", views.ApiRootView.as_view(), name="api-root"),
    path("<slug:root>/status/<str:status_id>/", views.StatusView.as_view(), name="status"),
    path("<slug:root>/collections/", views.CollectionsView.as_view(), name="collections"),
    path("<slug:root>/collections/<str:ident>/", views.CollectionView.as_view(), name="collection"),
    path(
        "<slug:root>/collections/<str:ident>/manifest/",
        views.ManifestView.as_view(),
        name="manifest",
    ),
    path(
        "<slug:root>/collections/<str:ident>/objects/", views.ObjectsView.as_view(), name="objects"
    ),
    path(
        "<slug:root>/collections/<str:ident>/objects/<str:object_id>/",
        views.ObjectView.as_view(),
        name="object",
    ),
    path(
        "<slug:root>/collections/<str:ident>/objects/<str:object_id>/versions/",
        views.VersionsView.as_view(),
        name="versions",
    ),
]
