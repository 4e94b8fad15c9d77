"""Admin of what flows where: API roots, collections, agreements and grants."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join

from intelshare import services
from intelshare.admin.forms import (
    AgreementForm,
    CollectionForm,
    GrantFormSet,
    save_agreement,
    save_grants,
)
from intelshare.models import Agreement, ApiRoot, Collection, Grant, Partner, Reveal


class DeletesGrants:
    """Deleting this deletes grants and their reveals with it, which their own
    (read-only) admin pages would otherwise refuse; it is a narrowing."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        to_delete, counts, perms_needed, protected = super().get_deleted_objects(  # type: ignore[misc]
            objs, request
        )
        derived = {str(m._meta.verbose_name) for m in (Grant, Reveal)}
        return to_delete, counts, {p for p in perms_needed if str(p) not in derived}, protected


class GrantInline(admin.TabularInline):
    model = Grant
    formset = GrantFormSet
    fields = ("collection", "can_read", "can_write")
    extra = 0


@admin.register(Agreement)
class AgreementAdmin(DeletesGrants, admin.ModelAdmin):
    form = AgreementForm
    list_display = (
        "name",
        "partner",
        "tlp_ceiling",
        "collections",
        "embargo",
        "valid_from",
        "valid_until",
        "active",
    )
    list_filter = ("partner", "tlp_ceiling", "granular_mode")
    search_fields = ("name", "partner__name", "partner__slug")
    list_select_related = ("partner",)
    filter_horizontal = ("consents",)
    inlines = [GrantInline]
    actions = ["revoke_now"]
    readonly_fields = ("created", "updated")
    fieldsets = (
        (None, {"fields": ("partner", "name")}),
        (
            "Rules",
            {
                "fields": (
                    "tlp_ceiling",
                    "allowed_types",
                    "denied_types",
                    "embargo",
                    "granular_mode",
                    "sightings",
                    "consents",
                    "rate_limit",
                )
            },
        ),
        ("Validity", {"fields": ("valid_from", "valid_until", "created", "updated")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = ("partner",) if obj is not None else ()
        return (*self.readonly_fields, *fixed)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        request._agreement_partner_id = obj.partner_id if obj is not None else None  # type: ignore[attr-defined]
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A partner always sees its own contributions: never offered as its own consent.
        own = getattr(request, "_agreement_partner_id", None)
        if db_field.name == "consents" and own is not None:
            kwargs["queryset"] = Partner.objects.exclude(pk=own)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agreement]:
        return super().get_queryset(request).annotate(n_grants=Count("grants"))

    @admin.display(description="collections", ordering="n_grants")
    def collections(self, agreement: Agreement) -> str:
        return (
            ", ".join(str(g.collection) for g in agreement.grants.select_related("collection"))
            or "—"
        )

    @admin.display(boolean=True, description="active now")
    def active(self, agreement: Agreement) -> bool:
        return agreement.active_at(timezone.now())

    def save_model(
        self, request: HttpRequest, obj: Agreement, form: forms.ModelForm, change: bool
    ) -> None:
        save_agreement(form)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        # Consents were saved by save_model (through the services), not save_m2m.
        for formset in formsets:
            save_grants(formset, form.instance)

    def delete_model(self, request: HttpRequest, obj: Agreement) -> None:
        services.agreement_delete(agreement=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        for agreement in queryset:
            services.agreement_delete(agreement=agreement)

    @admin.action(description="Revoke now (end the selected agreements)")
    def revoke_now(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        now = timezone.now()
        ended = 0
        for agreement in queryset:
            if agreement.valid_until is None or agreement.valid_until > now:
                services.agreement_revoke(agreement=agreement, now=now)
                ended += 1
        self.message_user(request, f"{ended} agreement(s) revoked.", messages.SUCCESS)


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    """Grants are edited on their agreement's page; this list is for finding them."""

    list_display = ("partner", "collection", "agreement", "can_read", "can_write")
    list_filter = ("partner", "collection", "can_read", "can_write")
    list_select_related = ("partner", "collection", "agreement")
    search_fields = ("partner__name", "agreement__name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Grant) -> None:
        services.grant_remove(agreement=obj.agreement, collection=obj.collection)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
        for grant in queryset.select_related("agreement", "collection"):
            services.grant_remove(agreement=grant.agreement, collection=grant.collection)


@admin.register(ApiRoot)
class ApiRootAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "max_content_length", "is_default", "n_collections")
    search_fields = ("slug", "title")
    list_filter = ("is_default",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiRoot]:
        return super().get_queryset(request).annotate(n=Count("collections"))

    @admin.display(description="collections", ordering="n")
    def n_collections(self, root: ApiRoot) -> int:
        return root.n  # type: ignore[attr-defined]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    form = CollectionForm
    list_display = ("title", "alias", "api_root", "default_tlp", "created", "id")
    list_filter = ("api_root", "default_tlp")
    search_fields = ("title", "alias", "=id")
    list_select_related = ("api_root",)
    readonly_fields = ("id", "last_date_added", "created", "grants")

    @admin.display(description="grants (edited on the agreements)")
    def grants(self, collection: Collection) -> str:
        rows = (
            (
                (
                    g.partner,
                    g.agreement,
                    "yes" if g.can_read else "no",
                    "yes" if g.can_write else "no",
                )
                for g in Grant.objects.filter(collection=collection).select_related(
                    "partner", "agreement"
                )
            )
            if collection.pk
            else ()
        )
        return format_html_join("", "<div>{}: {} (read {}, write {})</div>", rows) or "—"

    @transaction.atomic
    def save_model(
        self, request: HttpRequest, obj: Collection, form: forms.ModelForm, change: bool
    ) -> None:
        if not change or "default_tlp" not in form.changed_data:
            obj.save()
            return
        # Lowering the default TLP is a widening: through the service.
        # The service compares with the collection as stored, so it gets a fresh copy.
        others = [n for n in form.changed_data if n != "default_tlp"]
        if others:
            obj.save(update_fields=others)
        services.collection_set_default_tlp(
            collection=Collection.objects.get(pk=obj.pk),
            default_tlp=form.cleaned_data["default_tlp"],
        )
