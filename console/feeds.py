"""Feeds in the console: their health, a connection test with the feed's own
credential (``sync.services.feed_probe``: API root, then the collection list)
and a remote-collection picker from that list."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from console import selectors
from console.common import page, staff_only
from sync import services
from sync.models import Feed


@staff_only
def feeds(request: HttpRequest) -> HttpResponse:
    return page(
        request,
        "console/feeds.html",
        {"feeds": selectors.feed_health(now=timezone.now())},
        title="Feeds",
        tab="console:feeds",
    )


def _feed(feed_id: int) -> Feed:
    feed = Feed.objects.select_related("partner", "collection").filter(pk=feed_id).first()
    if feed is None:
        raise Http404("no such feed")
    return feed


@staff_only
def feed_test(request: HttpRequest, feed_id: int) -> HttpResponse:
    feed = _feed(feed_id)
    probe = services.feed_probe(feed=feed)
    listed = any(c.id == feed.remote_collection_id for c in probe.collections)
    return page(
        request,
        "console/feed_test.html",
        {"feed": feed, "probe": probe, "listed": listed},
        title=f"Connection test: {feed}",
        tab="console:feeds",
    )


@staff_only
@require_POST
def feed_pick(request: HttpRequest, feed_id: int) -> HttpResponse:
    feed = _feed(feed_id)
    chosen = request.POST.get("collection_id", "").strip()
    if chosen and chosen != feed.remote_collection_id:
        services.feed_set_remote_collection(feed=feed, collection_id=chosen)
        messages.success(
            request, f"{feed} now syncs remote collection {chosen}; its position starts over."
        )
    return redirect("console:feed_test", feed_id=feed.pk)
