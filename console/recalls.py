"""Recalls in the console: versions deleted on the hub, the partners that had them
(pulled or pushed, from the audit) and each push partner's answer to the DELETE."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from console.common import page, staff_only
from sync.models import Recall

SHOWN = 100


@staff_only
def recalls(request: HttpRequest) -> HttpResponse:
    found = Recall.objects.select_related("collection", "by").order_by("-at", "-id")
    stix_id = request.GET.get("id", "").strip()
    if stix_id:
        found = found.filter(stix_id=stix_id)
    return page(
        request,
        "console/recalls.html",
        {"recalls": list(found.prefetch_related("deliveries", "receipts")[:SHOWN]), "q": stix_id},
        title="Recalls",
        tab="console:recalls",
    )


@staff_only
def recall_detail(request: HttpRequest, recall_id: int) -> HttpResponse:
    found = Recall.objects.select_related("collection", "by").filter(pk=recall_id).first()
    if found is None:
        raise Http404("no such recall")
    return page(
        request,
        "console/recall.html",
        {
            "recall": found,
            "receipts": found.receipts.select_related("partner", "feed"),
            "deliveries": found.deliveries.select_related("feed__partner"),
        },
        title=f"Recall of {found.stix_id}",
        tab="console:recalls",
    )
