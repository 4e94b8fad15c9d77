"""Admin of hub users (roles checked, tokens inline) and API tokens."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from intelshare import accounts
from intelshare.admin.accounts import ConsoleStyle
from intelshare.admin.tokens import remember_token
from intelshare.models import ApiToken, User


class RolesMixin:
    """A user is a partner's or the hub's staff, never both (``accounts.roles_check``)."""

    def clean(self) -> dict[str, Any]:
        data = super().clean()  # type: ignore[misc]
        instance = self.instance  # type: ignore[attr-defined]
        partner = data.get("partner", getattr(instance, "partner", None))
        is_staff = data.get("is_staff", getattr(instance, "is_staff", False))
        if data.get("is_superuser"):
            is_staff = True
        try:
            accounts.roles_check(partner=partner, is_staff=is_staff)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)  # type: ignore[attr-defined]
        return data


class HubUserCreationForm(RolesMixin, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "partner", "is_staff")


class HubUserChangeForm(RolesMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


class ApiTokenInline(admin.TabularInline):
    """A user's tokens; issue new ones from the token page (shown once)."""

    model = ApiToken
    extra = 0
    fields = ("name", "hint", "created", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class HubUserAdmin(ConsoleStyle, UserAdmin):
    form = HubUserChangeForm
    add_form = HubUserCreationForm
    list_display = (
        "username",
        "partner",
        "email",
        "is_staff",
        "is_active",
        "last_login",
        "n_tokens",
    )
    list_filter = ("partner", "is_staff", "is_superuser", "is_active")
    list_select_related = ("partner",)
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Partner", {"fields": ("partner", "issue_token")}))
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "partner",
                    "is_staff",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("issue_token",)
    inlines = [ApiTokenInline]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else []  # a new user has no token yet

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """A partner's user never gets staff rights (``roles_check``): no groups,
        permissions or superuser widgets on its page."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.partner_id is None:
            return fieldsets
        staff_only = {"is_staff", "is_superuser", "groups", "user_permissions"}
        return tuple(
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in staff_only)})
            for name, opts in fieldsets
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super()
            .get_queryset(request)
            .annotate(tokens_n=Count("tokens", filter=Q(tokens__revoked_at__isnull=True)))
        )

    @admin.display(description="live tokens", ordering="tokens_n")
    def n_tokens(self, user: User) -> int:
        return user.tokens_n  # type: ignore[attr-defined]

    @admin.display(description="API tokens")
    def issue_token(self, user: User) -> str:
        if not user.pk:
            return "—"
        url = reverse("admin:intelshare_apitoken_add")
        return format_html('<a href="{}?user={}">Issue a token</a> (shown once)', url, user.pk)


class TokenIssueForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("user") is not None and "name" in data:
            try:
                accounts.token_check(
                    user=data["user"], name=data["name"], expires_at=data.get("expires_at")
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return data


class ActiveTokenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> Any:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True
            )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ConsoleStyle, admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "partner",
        "hint",
        "created",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = (ActiveTokenFilter, "user__partner")
    list_select_related = ("user", "user__partner")
    search_fields = ("name", "hint", "user__username")
    actions = ["revoke"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = TokenIssueForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("user", "name", "expires_at")
        return ("user", "name", "hint", "created", "expires_at", "revoked_at", "last_used_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description="partner", ordering="user__partner__name")
    def partner(self, token: ApiToken) -> Any:
        return token.user.partner or "(hub staff)"

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            return  # nothing on an issued token is editable
        token, plaintext = accounts.token_issue(
            user=obj.user, name=obj.name, expires_at=obj.expires_at
        )
        obj.pk, obj.digest, obj.hint = token.pk, token.digest, token.hint
        obj.created = token.created
        obj._state.adding = False
        request._issued_token = plaintext  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(request, "_issued_token", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        # POST → redirect → GET: the page shows the secret once; a reload issues nothing.
        return remember_token(request, obj, plaintext)

    @admin.action(description="Revoke the selected tokens now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        n = 0
        for token in queryset.filter(revoked_at__isnull=True):
            accounts.token_revoke(token=token)
            n += 1
        self.message_user(request, f"{n} token(s) revoked.", messages.SUCCESS)
