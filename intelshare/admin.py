"""Django admin for the hub's models."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from intelshare.models import ApiRoot, ApiToken, Collection, Grant, Partner, Status, User


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 0


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [GrantInline]


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ("name", "hint", "created", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("hint", "created", "last_used_at")


@admin.register(User)
class HubUserAdmin(UserAdmin):
    list_display = ("username", "partner", "is_staff", "is_active")
    list_filter = ("partner", "is_staff", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Partner", {"fields": ("partner",)}))
    inlines = [ApiTokenInline]


@admin.register(ApiRoot)
class ApiRootAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "max_content_length", "is_default")


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("title", "alias", "api_root", "default_tlp", "id")
    list_filter = ("api_root",)
    search_fields = ("title", "alias")
    inlines = [GrantInline]


@admin.register(Status)
class StatusAdmin(admin.ModelAdmin):
    list_display = ("id", "collection", "partner", "status", "total_count",
                    "success_count", "failure_count", "request_timestamp")
    list_filter = ("status",)
    exclude = ("envelope",)
    readonly_fields = [f.name for f in Status._meta.fields if f.name != "envelope"]
