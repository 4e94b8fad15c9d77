"""``/console/``: the operator console's pages (the dashboard is also ``/``)."""

from __future__ import annotations

from django.urls import path

from console import bundles, feeds, objects, onboard, pages, recalls

app_name = "console"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("matrix/", pages.matrix, name="matrix"),
    path("objects/", objects.objects, name="objects"),
    path("objects/bundle/", bundles.download, name="bundle"),
    path("objects/upload/", bundles.upload, name="upload"),
    path("objects/<str:stix_id>/", objects.object_detail, name="object"),
    path("preview/<int:partner_id>/<str:collection_id>/", objects.preview_page, name="preview"),
    path("onboard/", onboard.onboard, name="onboard"),
    path("tokens/<int:token_id>/issued/", onboard.token_issued, name="token_issued"),
    path("feeds/", feeds.feeds, name="feeds"),
    path("feeds/<int:feed_id>/test/", feeds.feed_test, name="feed_test"),
    path("feeds/<int:feed_id>/pick/", feeds.feed_pick, name="feed_pick"),
    path("recalls/", recalls.recalls, name="recalls"),
    path("recalls/<int:recall_id>/", recalls.recall_detail, name="recall"),
]
