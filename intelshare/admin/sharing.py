"""Admin of what flows where: API roots, collections, agreements and grants.

Every agreement write — its own page, the inline under a partner, the grants
inline, the "revoke now" action — goes through ``intelshare.services`` (grant
and agreement removal, narrowings, through ``intelshare.accounts``), so a
widening made here is recorded exactly as one made through the API or the CLI.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from intelshare import services
from intelshare.models import Agreement, ApiRoot, Collection, Grant, Partner, Reveal

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
RULE_FIELDS = (
    "tlp_ceiling",
    "allowed_types",
    "denied_types",
    "embargo",
    "valid_from",
    "valid_until",
    "granular_mode",
    "sightings",
    "rate_limit",
)


# STIX 2.1 types offered as choices; any other valid type name is typed in beside them.
KNOWN_TYPES = (
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
    "relationship",
    "sighting",
    "marking-definition",
    "extension-definition",
    "language-content",
    "domain-name",
    "ipv4-addr",
    "ipv6-addr",
    "url",
    "file",
    "email-addr",
    "software",
    "user-account",
)


class StixTypesWidget(forms.Widget):
    """A multi-select of the known STIX types and a text box for custom ones
    (``x-…`` or extension types). Posted as ``<name>`` (selected, repeated) and
    ``<name>_other`` (comma-separated); comma-separated text in ``<name>`` works too."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        picked = data.getlist(name) if hasattr(data, "getlist") else data.get(name) or []
        picked = [picked] if isinstance(picked, str) else list(picked)
        return ", ".join(v for v in [*picked, data.get(f"{name}_other", "")] if v.strip())

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and f"{name}_other" not in data

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = value if isinstance(value, list) else re.split(r"[\s,]+", value or "")
        chosen = [v for v in chosen if v]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((t, " selected" if t in chosen else "", t) for t in KNOWN_TYPES),
        )
        others = ", ".join(v for v in chosen if v not in KNOWN_TYPES)
        element_id = (attrs or {}).get("id", f"id_{name}")
        return format_html(
            '<select multiple name="{}" id="{}" size="8">{}</select>'
            '<div><label for="{}_other">Other types, comma-separated: </label>'
            '<input type="text" name="{}_other" id="{}_other" value="{}" size="40"></div>',
            name,
            element_id,
            options,
            element_id,
            name,
            element_id,
            others,
        )


class StixTypesField(forms.CharField):
    """STIX types picked from the known ones or typed in; empty = ``empty_value``."""

    def __init__(self, *, empty_value: Any, **kwargs: Any) -> None:
        self.empty_list_value = empty_value
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", StixTypesWidget())
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> Any:
        if isinstance(value, list):
            return value
        names = [n for n in re.split(r"[\s,]+", value or "") if n]
        bad = [n for n in names if not _TYPE.match(n)]
        if bad:
            raise forms.ValidationError(f"Not STIX types: {', '.join(bad)}")
        return names or self.empty_list_value


class AgreementForm(forms.ModelForm):
    allowed_types = StixTypesField(
        empty_value=None, help_text="STIX types the partner receives; empty = all."
    )
    denied_types = StixTypesField(empty_value=[], help_text="STIX types never sent.")

    class Meta:
        model = Agreement
        fields = ("partner", "name", *RULE_FIELDS, "consents")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            self.add_error("valid_until", "Must be after valid from.")
        partner = data.get("partner") or getattr(self.instance, "partner", None)
        if partner is not None and partner in (data.get("consents") or ()):
            self.add_error("consents", "A partner always sees its own contributions.")
        return data


class AgreementInlineForm(forms.ModelForm):
    """The rules shown in a row under the partner (types and consents: on the
    agreement's own page, so a row never clears what it does not show)."""

    class Meta:
        model = Agreement
        fields = ("name", "tlp_ceiling", "embargo", "granular_mode", "valid_from", "valid_until")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            self.add_error("valid_until", "Must be after valid from.")
        return data


def save_agreement(form: forms.ModelForm, *, partner: Any = None) -> Agreement:
    """Create or change the agreement of ``form`` through the services; returns
    the saved agreement (the form's instance, now with a primary key)."""
    obj: Agreement = form.instance
    data = form.cleaned_data
    if obj.pk is None:
        rules = {name: data[name] for name in RULE_FIELDS if name in data}
        saved = services.agreement_create(
            partner=partner or data["partner"],
            name=data["name"],
            consents=data.get("consents") or (),
            **rules,
        )
        obj.pk, obj.created, obj.updated = saved.pk, saved.created, saved.updated
        obj._state.adding = False
        return obj
    changed = {name: data[name] for name in form.changed_data if name in services.AGREEMENT_FIELDS}
    consents = data["consents"] if "consents" in form.changed_data else None
    if changed or consents is not None:
        # agreement_update compares with the rows as stored, not this instance.
        services.agreement_update(agreement=obj, consents=consents, **changed)
    return obj


class GrantFormSet(BaseInlineFormSet):
    """Refuse a collection the partner holds under another of its agreements."""

    def clean(self) -> None:
        super().clean()
        agreement: Agreement = self.instance
        partner_id = agreement.partner_id  # set from the parent form before this runs
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            collection = data.get("collection")
            if collection is None or data.get("DELETE") or partner_id is None:
                continue
            other = Grant.objects.filter(partner_id=partner_id, collection=collection)
            if agreement.pk is not None:
                other = other.exclude(agreement=agreement)
            if other.exists():
                form.add_error(
                    "collection",
                    "The partner has a grant on this collection under "
                    "another agreement (one set of rules per "
                    "collection).",
                )


def save_grants(formset: BaseInlineFormSet, agreement: Agreement) -> None:
    """The grants inline, through ``services.grant_set`` / ``services.grant_remove``."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.forms:
        if not hasattr(form, "cleaned_data") or not form.cleaned_data:
            continue
        data = form.cleaned_data
        old: Grant | None = data.get("id")
        if data.get("DELETE"):
            if old is not None:
                services.grant_remove(agreement=agreement, collection=old.collection)
                formset.deleted_objects.append(old)
            continue
        if not form.has_changed():
            continue
        if old is not None and old.collection_id != data["collection"].pk:
            services.grant_remove(agreement=agreement, collection=old.collection)
        grant = services.grant_set(
            agreement=agreement,
            collection=data["collection"],
            can_read=data["can_read"],
            can_write=data["can_write"],
        )
        if old is None:
            formset.new_objects.append(grant)
        else:
            formset.changed_objects.append((grant, form.changed_data))


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


class MediaTypesField(forms.CharField):
    """A collection's media types (TAXII 2.1 §5.2.1), one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 50})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> Any:
        if isinstance(value, list):
            return value
        text = (value or "").strip()
        if text.startswith("["):  # the JSON list the field used to take
            try:
                listed = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise forms.ValidationError("Not a JSON list of media types.") from None
            text = "\n".join(str(m) for m in listed) if isinstance(listed, list) else ""
        found = [line.strip() for line in text.splitlines() if line.strip()]
        bad = [m for m in found if not _MEDIA_TYPE.match(m)]
        if bad:
            raise forms.ValidationError(f"Not media types: {', '.join(bad)}")
        return found


_MEDIA_TOKEN = r"[a-z0-9!#$&^_.+-]+"  # noqa: S105 - an RFC 6838 token, not a secret
_MEDIA_TYPE = re.compile(rf"^{_MEDIA_TOKEN}/{_MEDIA_TOKEN}(;[a-z0-9_.-]+=[A-Za-z0-9_.+-]+)*$")


class CollectionForm(forms.ModelForm):
    media_types = MediaTypesField(
        required=False, help_text="One per line, e.g. application/stix+json;version=2.1."
    )

    class Meta:
        model = Collection
        fields = ("api_root", "title", "description", "alias", "media_types", "default_tlp")


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
