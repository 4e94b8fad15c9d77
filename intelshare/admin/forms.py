"""Forms of the sharing admin: STIX types and media types as fields, the agreement
and collection forms, and the saving of agreements and grants through
``intelshare.services`` (grant and agreement removal through ``intelshare.accounts``)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from django import forms
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from intelshare import services, stix
from intelshare.models import Agreement, Collection, Grant

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
        bad = [n for n in names if not stix.TYPE.fullmatch(n)]
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
