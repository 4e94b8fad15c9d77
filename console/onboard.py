"""Onboarding in one page: partner, agreement, grants, a token-only user and its
API token; the token is shown once, on the page the form redirects to."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.text import slugify

from console.common import page, staff_only
from intelshare import accounts, services, stix
from intelshare.admin.tokens import SESSION_KEY, remember_token
from intelshare.models import TLP_CHOICES, ApiToken, Collection, Partner, User


class OnboardForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Partner name",
        widget=forms.TextInput(attrs={"autofocus": True, "size": 40}),
    )
    description = forms.CharField(
        required=False, label="Description", widget=forms.TextInput(attrs={"size": 40})
    )
    tlp_ceiling = forms.TypedChoiceField(
        choices=TLP_CHOICES,
        coerce=int,
        initial=stix.TLP_GREEN,
        label="TLP ceiling",
        help_text="The highest TLP the partner receives.",
    )
    read = forms.ModelMultipleChoiceField(
        queryset=Collection.objects.none(),
        required=False,
        label="Read",
        widget=forms.CheckboxSelectMultiple,
    )
    write = forms.ModelMultipleChoiceField(
        queryset=Collection.objects.none(),
        required=False,
        label="Write",
        widget=forms.CheckboxSelectMultiple,
    )
    username = forms.CharField(
        max_length=150,
        required=False,
        label="API user name",
        help_text="Default: <partner slug>-taxii. Token only, no password.",
    )
    token_name = forms.CharField(max_length=100, initial="taxii", label="Token name")
    expires_at = forms.DateTimeField(
        required=False,
        label="Token expires",
        help_text="Empty: never (revoke it when needed).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        collections = Collection.objects.select_related("api_root").order_by(
            "api_root__slug", "created"
        )
        self.fields["read"].queryset = collections  # type: ignore[attr-defined]
        self.fields["write"].queryset = collections  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = (data.get("name") or "").strip()
        slug = slugify(name)
        if name and not slug:
            self.add_error("name", "The name needs letters or digits.")
        if slug and Partner.objects.filter(slug=slug).exists():
            self.add_error("name", f"A partner with the slug {slug!r} exists.")
        if name and Partner.objects.filter(name=name).exists():
            self.add_error("name", "A partner with this name exists.")
        if not data.get("read") and not data.get("write"):
            self.add_error("read", "Grant at least one collection (read or write).")
        username = (data.get("username") or "").strip() or f"{slug}-taxii"
        if User.objects.filter(username=username).exists():
            self.add_error("username", f"The user name {username!r} is taken.")
        data["username"], data["slug"] = username, slug
        return data


def onboard_partner(*, data: dict[str, Any]) -> tuple[ApiToken, str]:
    """Partner, agreement with its grants, token-only user and token, in one
    transaction; returns the token and its plaintext."""
    with transaction.atomic():
        partner = accounts.partner_create(
            name=data["name"], slug=data["slug"], description=data.get("description") or ""
        )
        agreement = services.agreement_create(
            partner=partner, name="Agreement", tlp_ceiling=data["tlp_ceiling"]
        )
        readable, writable = set(data.get("read") or ()), set(data.get("write") or ())
        for collection in sorted(readable | writable, key=lambda c: str(c.pk)):
            services.grant_set(
                agreement=agreement,
                collection=collection,
                can_read=collection in readable,
                can_write=collection in writable,
            )
        user = accounts.user_create(username=data["username"], partner=partner)
        return accounts.token_issue(
            user=user, name=data["token_name"], expires_at=data.get("expires_at")
        )


@staff_only
def onboard(request: HttpRequest) -> HttpResponse:
    form = OnboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = onboard_partner(data=form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return remember_token(request, token, plaintext)
    rows = list(zip(form["read"], form["write"], strict=True))
    return page(
        request,
        "console/onboard.html",
        {"form": form, "grant_rows": rows},
        title="Onboard a partner",
        tab="console:onboard",
    )


@staff_only
def token_issued(request: HttpRequest, token_id: int) -> HttpResponse:
    """The plaintext once (popped from the session), then only the token's facts."""
    token = ApiToken.objects.select_related("user", "user__partner").filter(pk=token_id).first()
    if token is None:
        raise Http404("no such token")
    held = request.session.get(SESSION_KEY)
    plaintext = None
    if isinstance(held, dict) and held.get("pk") == token.pk:
        plaintext = held.get("plaintext")
        del request.session[SESSION_KEY]
    partner = token.user.partner
    context = {
        "token": token,
        "plaintext": plaintext,
        "partner": partner,
        "discovery": request.build_absolute_uri("/taxii2/"),
        "grants": partner.grants.select_related("collection", "collection__api_root")
        if partner
        else [],
    }
    response = page(
        request,
        "console/token_issued.html",
        context,
        title="Token issued" if plaintext else f"Token {token.name}",
    )
    response["Cache-Control"] = "no-store"
    return response
