"""The object browser: search, the object page (with "who received it" and
"explain for partner"), and the preview of what a partner receives."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from console import selectors
from console.common import RULE_TEXT, page, rule_text, staff_only
from intelshare import policy, preview, sightings, stix
from intelshare.admin.forms import KNOWN_TYPES
from intelshare.models import Collection, Partner
from sync.models import Recall

RECEIPT_DAYS = 30
PREVIEW_SCAN = 20000  # versions looked at for the withheld list, newest first


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def search_from(get: QueryDict) -> selectors.Search:
    """The object browser's filters from a query string (bad values ignored)."""
    collection = get.get("collection", "")
    if not (_is_uuid(collection) and Collection.objects.filter(pk=collection).exists()):
        collection = ""
    return selectors.Search(
        q=get.get("q", "")[:200],
        type=get.get("type", "")[:250],
        tlp=_int(get.get("tlp")),
        source_partner=_int(get.get("source")),
        origin=get.get("origin", "") if get.get("origin") in selectors.ORIGIN_KINDS else "",
        collection=collection,
        added_from=_date(get.get("from")),
        added_to=_date(get.get("to")),
        hit=get.get("hit") == "1",
    )


@staff_only
def objects(request: HttpRequest) -> HttpResponse:
    get = request.GET
    wanted = search_from(get)
    searched = any(
        get.get(k)
        for k in ("q", "type", "tlp", "source", "origin", "collection", "from", "to", "hit")
    )
    hits = selectors.search(wanted)
    return page(
        request,
        "console/objects.html",
        {
            "s": wanted,
            "hits": hits,
            "searched": searched,
            "limit": selectors.SEARCH_LIMIT,
            "types": KNOWN_TYPES,
            "tlps": stix.TLP_NAMES.items(),
            "partners": selectors.partners(),
            "origins": selectors.ORIGIN_KINDS,
            "collections": Collection.objects.select_related("api_root"),
            "query": get.urlencode(),
            "bundle_limit": selectors.BUNDLE_LIMIT,
        },
        title="Objects",
        tab="console:objects",
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _markings(obj: dict[str, Any]) -> list[str]:
    return [
        stix.TLP_NAMES[stix.TLP_MARKINGS[ref]]
        for ref in obj.get("object_marking_refs") or ()
        if isinstance(ref, str) and ref in stix.TLP_MARKINGS
    ]


_SHOWN_ELSEWHERE = {
    "type",
    "id",
    "spec_version",
    "name",
    "description",
    "created",
    "modified",
    "object_marking_refs",
    "external_references",
    "aliases",
}


@staff_only
def object_detail(request: HttpRequest, stix_id: str) -> HttpResponse:
    found = selectors.object_page(stix_id)
    if found is None:
        if Recall.objects.filter(stix_id=stix_id).exists():
            return redirect(f"{reverse('console:recalls')}?{urlencode({'id': stix_id})}")
        raise Http404("no such object")
    obj = found.obj
    now = timezone.now()
    partners = selectors.partners()
    explained: list[dict[str, Any]] = []
    partner = None
    partner_id = _int(request.GET.get("partner"))
    if partner_id is not None:
        partner = next((p for p in partners if p.pk == partner_id), None)
    if partner is not None:
        titles = {c.pk: str(c) for c in Collection.objects.all()}
        for e in policy.explain(partner=partner, stix_id=stix_id, now=now):
            explained.append(
                {
                    "collection": titles.get(e.collection_id, e.collection_id),
                    "version": e.version,
                    "date_added": e.date_added,
                    "shared": e.decision.shared,
                    "rule": e.decision.rule,
                    "text": rule_text(e.decision.rule),
                }
            )
    receipts, scanned = selectors.receipts(
        stix_id=stix_id, since=now - timedelta(days=RECEIPT_DAYS)
    )
    others = {
        k: v
        for k, v in obj.items()
        if k not in _SHOWN_ELSEWHERE and not k.endswith("_ref") and not k.endswith("_refs")
    }
    latest = found.latest
    return page(
        request,
        "console/object.html",
        {
            "o": found,
            "obj": obj,
            "name": stix.object_name(obj),
            "markings": _markings(obj),
            "tlp": stix.TLP_NAMES.get(latest.tlp_rank) if latest.tlp_rank is not None else None,
            "external": [r for r in obj.get("external_references") or () if isinstance(r, dict)],
            "others": [
                (k, v if isinstance(v, str) else orjson.dumps(v).decode())
                for k, v in others.items()
            ],
            "versions": [
                (
                    v,
                    stix.format_version(v.version),
                    stix.TLP_NAMES.get(v.tlp_rank) if v.tlp_rank is not None else None,
                )
                for v in found.versions
            ],
            "partners": partners,
            "partner": partner,
            "explained": explained,
            "receipts": receipts,
            "scanned": scanned,
            "receipt_days": RECEIPT_DAYS,
            "seen": sightings.seen({v.collection_id for v in found.versions}, [stix_id]).get(
                stix_id
            ),
            "json": orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode(),
        },
        title=stix.object_name(obj) or stix_id,
        tab="console:objects",
    )


@staff_only
def preview_page(request: HttpRequest, partner_id: int, collection_id: str) -> HttpResponse:
    """What ``partner`` receives from the collection now, and what it does not, with
    TLP and the deciding rule per row, each linked to the object page."""
    partner = Partner.objects.filter(pk=partner_id).first()
    collection = (
        Collection.objects.select_related("api_root").filter(pk=collection_id).first()
        if _is_uuid(collection_id)
        else None
    )
    if partner is None or collection is None:
        raise Http404("no such partner or collection")
    now = timezone.now()
    received = preview.page(partner=partner, collection=collection, now=now, limit=100).rows
    withheld, scanned = preview.withheld(
        partner=partner, collection=collection, now=now, limit=100, scan=PREVIEW_SCAN
    )
    # The counts by rule read the whole collection: only when asked for.
    counted = request.GET.get("count") == "1"
    facts = selectors.tlp_ranks([r.pk for r in received])
    names = selectors.names({r.stix_id for r in received} | {w.stix_id for w in withheld})

    def tlp(rank: int | None) -> str | None:
        return stix.TLP_NAMES.get(rank) if rank is not None else None

    return page(
        request,
        "console/preview.html",
        {
            "partner": partner,
            "collection": collection,
            "received": [(r, names.get(r.stix_id, ""), tlp(facts.get(r.pk))) for r in received],
            "withheld": [
                (w, names.get(w.stix_id, ""), tlp(w.tlp_rank), rule_text(w.rule)) for w in withheld
            ],
            "summary": preview.summary(partner=partner, collection=collection, now=now)
            if counted
            else None,
            "scanned": scanned,
            "scan": PREVIEW_SCAN,
            "rule_text": RULE_TEXT,
            "collections": Collection.objects.filter(grants__partner=partner),
        },
        title=f"Preview: what {partner} receives from {collection}",
        tab="console:matrix",
    )
