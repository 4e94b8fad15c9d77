"""The landing page, the dashboard and the sharing matrix."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from console import charts, selectors
from console.common import page, rule_text, staff_only
from intelshare import stix
from intelshare.models import ApiRoot

WINDOWS = (7, 30)


def home(request: HttpRequest) -> HttpResponse:
    """``/``: the dashboard for hub staff; a short public page for everyone else."""
    user = request.user
    if user.is_authenticated and user.is_hub_staff:  # type: ignore[union-attr]
        return dashboard(request)
    default = ApiRoot.objects.filter(is_default=True).first()
    return render(
        request,
        "console/public.html",
        {
            "discovery": request.build_absolute_uri("/taxii2/"),
            "api_root": request.build_absolute_uri(f"/taxii2/{default.slug}/") if default else "",
            "login": reverse("admin:login"),
            "signed_in": user.is_authenticated,
        },
    )


@staff_only
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    days = 30 if request.GET.get("days") == "30" else 7
    since = now - timedelta(days=days)
    partners = selectors.partners()
    traffic = selectors.traffic(partners=partners, since=since)
    shown = [t for t in traffic if t.requests][:15]

    def partner_link(t: selectors.Traffic) -> str:
        return reverse("admin:intelshare_partner_change", args=[t.partner.pk])

    ingest = selectors.ingested_per_day(now=now, days=14)
    refused = selectors.refusals(partners=partners, since=since)
    feeds = selectors.feed_health(now=now)
    withheld = selectors.withheld_by_rule(traffic=traffic, now=now)
    context = {
        "days": days,
        "windows": WINDOWS,
        "feeds": feeds,
        "feeds_failing": sum(1 for f in feeds if f.state == "failing"),
        "quarantine": sum(f.pending_quarantine for f in feeds),
        "requests_chart": charts.hbars(
            [(t.partner.name, t.requests, partner_link(t)) for t in shown]
        ),
        "versions_chart": charts.hbars(
            [(t.partner.name, t.versions, partner_link(t)) for t in shown]
        ),
        "refused_chart": charts.hbars(
            [(f"HTTP {code}", n, "") for code, n in sorted(refused.items())]
        ),
        "withheld": withheld,
        "withheld_chart": charts.hbars([(rule, n, "") for rule, n in withheld.by_rule.items()]),
        "withheld_rules": [(rule, rule_text(rule)) for rule in withheld.by_rule],
        "ingest_chart": charts.stacked(
            [(d.day.strftime("%d %b"), d.by_kind) for d in ingest], selectors.ORIGIN_KINDS
        ),
        "ingested_total": sum(d.total for d in ingest),
        "requests_total": sum(t.requests for t in traffic),
        "versions_total": sum(t.versions for t in traffic),
        "partners_n": len(partners),
    }
    return page(
        request, "console/dashboard.html", context, title="Dashboard", tab="console:dashboard"
    )


@staff_only
def matrix(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    collections, rows = selectors.matrix(now=now)
    return page(
        request,
        "console/matrix.html",
        {"collections": collections, "rows": rows, "now": now, "tlp_names": stix.TLP_NAMES},
        title="Sharing matrix",
        tab="console:matrix",
    )
