"""Admin of partners and the partner preview page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from intelshare import preview, services
from intelshare.admin.forms import AgreementInlineForm, save_agreement
from intelshare.admin.sharing import DeletesGrants
from intelshare.models import Agreement, ApiToken, AuditEvent, Collection, Grant, Partner, User

LAST_PULLS = 10


class PartnerAgreementInline(admin.TabularInline):
    """Agreements under their partner; grants and consents on the agreement's page."""

    model = Agreement
    form = AgreementInlineForm
    fields = AgreementInlineForm.Meta.fields
    extra = 0
    show_change_link = True


# Sections other apps add to a partner's page (the sync app: its feeds), so this app
# never imports them.
PARTNER_PANELS: dict[str, Callable[[Partner], str]] = {}


def html_table(headers: tuple[str, ...], rows: list[tuple[Any, ...]], empty: str) -> str:
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class ConsoleStyle:
    """The admin pages that hold wide tables keep within the viewport."""

    class Media:
        css = {"all": ("console/admin.css",)}


@admin.register(Partner)
class PartnerAdmin(ConsoleStyle, DeletesGrants, admin.ModelAdmin):
    list_display = ("name", "slug", "n_users", "n_agreements", "created")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = (
        "grants",
        "feeds",
        "last_pulls",
        "preview_links",
        "users_and_tokens",
        "created",
    )
    inlines = [PartnerAgreementInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "created")}),
        ("What it receives", {"fields": ("grants", "preview_links")}),
        ("Users and API tokens", {"fields": ("users_and_tokens",)}),
        ("Activity", {"fields": ("feeds", "last_pulls")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Partner]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                users_n=Count("users", distinct=True),
                agreements_n=Count("agreements", distinct=True),
            )
        )

    @admin.display(description="users", ordering="users_n")
    def n_users(self, partner: Partner) -> int:
        return partner.users_n  # type: ignore[attr-defined]

    @admin.display(description="agreements", ordering="agreements_n")
    def n_agreements(self, partner: Partner) -> int:
        return partner.agreements_n  # type: ignore[attr-defined]

    @admin.display(description="grants")
    def grants(self, partner: Partner) -> str:
        rows = (
            [
                (
                    g.collection,
                    g.agreement,
                    "yes" if g.can_read else "no",
                    "yes" if g.can_write else "no",
                )
                for g in Grant.objects.filter(partner=partner).select_related(
                    "collection", "agreement"
                )
            ]
            if partner.pk
            else []
        )
        return html_table(("collection", "agreement", "read", "write"), rows, "No grant.")

    @admin.display(description="feeds")
    def feeds(self, partner: Partner) -> str:
        panel = PARTNER_PANELS.get("feeds")
        return panel(partner) if panel and partner.pk else "No feed."

    @admin.display(description="users and tokens")
    def users_and_tokens(self, partner: Partner) -> str:
        if not partner.pk:
            return "—"
        users = list(User.objects.filter(partner=partner).order_by("username"))
        tokens = (
            ApiToken.objects.filter(user__partner=partner)
            .select_related("user")
            .order_by("user__username", "-created")
        )
        rows: list[tuple[Any, ...]] = []
        for token in tokens:
            state = (
                "revoked"
                if token.revoked_at
                else "expired"
                if token.expires_at and token.expires_at <= timezone.now()
                else "active"
            )
            rows.append(
                (
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:intelshare_user_change", args=[token.user_id]),
                        token.user,
                    ),
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:intelshare_apitoken_change", args=[token.pk]),
                        token.name,
                    ),
                    token.hint + "…",
                    state,
                    token.last_used_at.strftime("%Y-%m-%d %H:%M")
                    if token.last_used_at
                    else "never",
                )
            )
        without = [u for u in users if all(t.user_id != u.pk for t in tokens)]
        rows += [
            (
                format_html(
                    '<a href="{}">{}</a>', reverse("admin:intelshare_user_change", args=[u.pk]), u
                ),
                "—",
                "",
                "no token",
                "",
            )
            for u in without
        ]
        add = format_html(
            '<p><a href="{}?partner={}">Add a user</a></p>',
            reverse("admin:intelshare_user_add"),
            partner.pk,
        )
        return format_html(
            "{}{}",
            html_table(("user", "token", "hint", "state", "last used"), rows, "No user."),
            add,
        )

    @admin.display(description=f"last {LAST_PULLS} requests")
    def last_pulls(self, partner: Partner) -> str:
        events = (
            AuditEvent.objects.filter(partner=partner)
            .select_related("collection")
            .order_by("-at")[:LAST_PULLS]
            if partner.pk
            else []
        )
        rows = [
            (
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.method,
                e.endpoint,
                e.collection or "",
                e.status_code,
                e.count,
            )
            for e in events
        ]
        more = ""
        if rows:
            url = reverse("admin:intelshare_auditevent_changelist")
            more = format_html(
                '<p><a href="{}?partner__id__exact={}">All requests</a></p>', url, partner.pk
            )
        return format_html(
            "{}{}",
            html_table(
                ("at", "method", "endpoint", "collection", "status", "versions"),
                rows,
                "No TAXII request yet.",
            ),
            more,
        )

    @admin.display(description="preview")
    def preview_links(self, partner: Partner) -> str:
        if not partner.pk:
            return "—"
        url = reverse("admin:intelshare_partner_preview", args=[partner.pk])
        named = format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("console:preview", args=[partner.pk, g.collection_id]), g.collection)
                for g in Grant.objects.filter(partner=partner).select_related("collection")
            ),
        )
        return format_html(
            '<a href="{}">What {} would receive now, per collection</a>'
            "<br>Received and withheld, by name and rule: {}",
            url,
            partner,
            named or "no grant",
        )

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not Agreement:
            super().save_formset(request, form, formset, change)
            return
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            data = getattr(inline_form, "cleaned_data", None)
            if not data:
                continue
            if data.get("DELETE"):
                if inline_form.instance.pk is not None:
                    services.agreement_delete(agreement=inline_form.instance)
                    formset.deleted_objects.append(inline_form.instance)
                continue
            if inline_form.has_changed():
                adding = inline_form.instance.pk is None
                saved = save_agreement(inline_form, partner=form.instance)
                if adding:
                    formset.new_objects.append(saved)
                else:
                    formset.changed_objects.append((saved, inline_form.changed_data))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:partner_id>/preview/", view, name="intelshare_partner_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, partner_id: int) -> HttpResponse:
        """What the partner would receive right now: per collection, a summary and
        one page of versions (``intelshare.preview``, the API's preview)."""
        partner = Partner.objects.filter(pk=partner_id).first()
        if partner is None:
            raise Http404("no such partner")
        if not self.has_view_permission(request, partner):
            raise PermissionDenied("no permission to view partners")
        now = timezone.now()
        granted = Collection.objects.filter(grants__partner=partner).select_related("api_root")
        chosen = None
        wanted = request.GET.get("collection")
        if wanted:
            chosen = Collection.objects.filter(pk=wanted).first() if _is_uuid(wanted) else None
        chosen = chosen or granted.first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "partner": partner,
            "collections": granted,
            "chosen": chosen,
            "now": now,
            "title": f"Preview: what {partner} receives",
        }
        if chosen is not None:
            try:
                page = preview.page(
                    partner=partner,
                    collection=chosen,
                    now=now,
                    cursor=request.GET.get("cursor") or None,
                    limit=100,
                )
            except preview.BadCursor:
                messages.error(request, "That page link is no longer valid; starting over.")
                page = preview.page(partner=partner, collection=chosen, now=now, limit=100)
            context["page"] = page
            if not request.GET.get("cursor"):
                context["summary"] = preview.summary(partner=partner, collection=chosen, now=now)
        return TemplateResponse(request, "admin/intelshare/partner/preview.html", context)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
