"""Admin of the hub's records: object versions, references, reveals, audit events
and POST statuses. All read-only: versions are written and deleted only by
``intelshare.ingest``, the rest by the TAXII server and the services."""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from intelshare import stix
from intelshare.models import AuditEvent, ObjectVersion, Reveal, Status, VersionRef


class ReadOnlyAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ("console/admin.css",)}  # long JSON and ids wrap within the page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionRefInline(admin.TabularInline):
    model = VersionRef
    fields = ("kind", "ref")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ObjectVersion)
class ObjectVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "stix_id",
        "name",
        "type",
        "version",
        "collection",
        "date_added",
        "tlp_rank",
        "source_partner",
        "is_latest",
    )
    list_filter = ("collection", "tlp_rank", "is_latest", "revoked", "source_partner")
    search_fields = ("=stix_id", "=type")
    search_help_text = (
        "An exact STIX id or type. By name, alias or external id: the "
        "console's Objects page, /console/objects/."
    )
    list_select_related = ("collection", "source_partner")
    show_full_result_count = False  # no COUNT over the whole table per page
    fields = (
        "stix_id",
        "console_link",
        "type",
        "spec_version",
        "version",
        "collection",
        "date_added",
        "tlp_rank",
        "source_partner",
        "origin",
        "has_granular",
        "granular_rank",
        "granular_required_rank",
        "has_refs",
        "revoked",
        "is_latest",
        "pretty_raw",
    )
    readonly_fields = fields
    inlines = [VersionRefInline]

    @admin.display(description="name")
    def name(self, version: ObjectVersion) -> str:
        try:
            return stix.object_name(orjson.loads(version.raw))[:80]
        except orjson.JSONDecodeError:
            return ""

    @admin.display(description="in the console")
    def console_link(self, version: ObjectVersion) -> str:
        return format_html(
            '<a href="{}">Readable page: refs, relationships, who received it, explain</a>',
            reverse("console:object", args=[version.stix_id]),
        )

    @admin.display(description="object (as stored)")
    def pretty_raw(self, version: ObjectVersion) -> str:
        text = orjson.dumps(orjson.loads(version.raw), option=orjson.OPT_INDENT_2).decode()
        return format_html("<pre>{}</pre>", text)


@admin.register(VersionRef)
class VersionRefAdmin(ReadOnlyAdmin):
    list_display = ("version", "kind", "ref")
    list_filter = ("kind",)
    search_fields = ("=ref",)
    show_full_result_count = False


@admin.register(Reveal)
class RevealAdmin(ReadOnlyAdmin):
    """Versions a widening revealed to a partner, dated at the change."""

    list_display = ("version", "grant", "revealed_at")
    list_select_related = ("version", "grant", "grant__partner", "grant__collection")
    list_filter = ("grant__partner",)
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "partner",
        "user",
        "method",
        "endpoint",
        "collection",
        "object_id",
        "status_code",
        "count",
    )
    list_filter = ("partner", "method", "endpoint", "status_code", "collection")
    search_fields = ("=object_id", "user__username")
    list_select_related = ("partner", "user", "collection")
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(Status)
class StatusAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "collection",
        "partner",
        "status",
        "total_count",
        "success_count",
        "failure_count",
        "request_timestamp",
    )
    list_filter = ("status",)
    list_select_related = ("collection", "partner")
    exclude = ("envelope",)
    readonly_fields = [f.name for f in Status._meta.fields if f.name != "envelope"]
