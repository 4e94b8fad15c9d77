"""Django admin for partner feeds, their runs and the quarantine."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from intelshare.admin.accounts import PARTNER_PANELS, html_table
from intelshare.models import Partner
from sync import services
from sync.models import Feed, Quarantine, SyncRun

# A change to any of these re-tests the connection on save.
CONNECTION_FIELDS = {
    "api_root_url",
    "remote_collection_id",
    "taxii_version",
    "auth_type",
    "username",
    "header_name",
    "secret",
    "verify_tls",
    "ca_bundle",
    "client_cert",
    "client_key",
}


class FeedForm(forms.ModelForm):
    api_root_url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="The remote TAXII API root.",
        widget=forms.URLInput(attrs={"size": 60}),
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        label="New credential",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Password (Basic), token (bearer) or header value. Write-only: leave "
        "empty to keep the stored one.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored credential")

    class Meta:
        model = Feed
        fields = (
            "name",
            "partner",
            "direction",
            "collection",
            "enabled",
            "api_root_url",
            "remote_collection_id",
            "taxii_version",
            "auth_type",
            "username",
            "header_name",
            "verify_tls",
            "ca_bundle",
            "client_cert",
            "client_key",
            "interval",
            "page_size",
            "default_tlp",
        )

    def save(self, commit: bool = True) -> Any:
        feed: Feed = super().save(commit=False)
        if self.cleaned_data.get("clear_secret"):
            feed.set_secret("")
        elif self.cleaned_data.get("secret"):
            feed.set_secret(self.cleaned_data["secret"])
        if commit:
            feed.save()
        return feed


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ("console/admin.css",)}

    form = FeedForm
    list_display = (
        "name",
        "partner",
        "direction",
        "state",
        "last_success_display",
        "lag_display",
        "test_link",
    )
    list_filter = ("direction", "enabled", "partner")
    search_fields = ("name", "api_root_url", "remote_collection_id")
    readonly_fields = (
        "connection",
        "credential_stored",
        "checkpoint",
        "push_cursor_date",
        "push_cursor_pk",
        "last_success",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "next_attempt",
        "remote_added_last",
        "lease_until",
        "created",
    )
    fieldsets = (
        (None, {"fields": ("name", "partner", "direction", "collection", "enabled")}),
        (
            "Remote",
            {
                "fields": (
                    "connection",
                    "api_root_url",
                    "remote_collection_id",
                    "taxii_version",
                    "auth_type",
                    "username",
                    "header_name",
                    "credential_stored",
                    "secret",
                    "clear_secret",
                    "verify_tls",
                    "ca_bundle",
                    "client_cert",
                    "client_key",
                )
            },
        ),
        ("Schedule and content", {"fields": ("interval", "page_size", "default_tlp")}),
        (
            "Position",
            {
                "fields": ("checkpoint", "push_cursor_date", "push_cursor_pk"),
                "description": 'Moved only by runs; the action "Reset position" '
                "starts the feed over.",
            },
        ),
        (
            "Health",
            {
                "fields": (
                    "last_success",
                    "last_error",
                    "last_error_at",
                    "consecutive_failures",
                    "next_attempt",
                    "remote_added_last",
                    "lease_until",
                    "created",
                )
            },
        ),
    )
    actions = ["run_now", "pause", "resume", "reset_position"]

    def save_model(
        self, request: HttpRequest, obj: Feed, form: forms.ModelForm, change: bool
    ) -> None:
        """Save only what the form changed: a run may be moving the checkpoint,
        health and lease of this row at the same moment. A new or re-pointed feed's
        connection is tested at once (the answer is a message; the save stands)."""
        if not change:
            obj.save()
        else:
            fields = [name for name in form.changed_data if name in FeedForm.Meta.fields]
            if {"secret", "clear_secret"} & set(form.changed_data):
                fields.append("secret_encrypted")
            if fields:
                obj.save(update_fields=fields)
        if not change or set(form.changed_data) & CONNECTION_FIELDS:
            probe = services.feed_probe(feed=obj)
            if not probe.ok:
                self.message_user(
                    request, f"Connection test failed: {probe.error}", messages.WARNING
                )
            elif not any(c.id == obj.remote_collection_id for c in probe.collections):
                self.message_user(
                    request,
                    "Connected, but the remote collection is not in "
                    "the API root's list: pick one on the connection test "
                    "page.",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    "Connection test passed: API root "
                    f"“{probe.api_root.title if probe.api_root else ''}”, "
                    "remote collection listed.",
                )

    @admin.display(description="state", ordering="consecutive_failures")
    def state(self, feed: Feed) -> str:
        text = feed.health
        if feed.consecutive_failures:
            text = f"{text} x{feed.consecutive_failures}"
        return format_html(
            '<span class="state state-{}">{}</span>', feed.health.replace(" ", "-"), text
        )

    @admin.display(description="last success", ordering="last_success")
    def last_success_display(self, feed: Feed) -> str:
        return feed.last_success.strftime("%Y-%m-%d %H:%M") if feed.last_success else "never"

    @admin.display(description="connection")
    def connection(self, feed: Feed) -> str:
        if not feed.pk:
            return "Tested when the feed is saved."
        return format_html(
            '<a href="{}">Test the connection and pick the remote collection</a>',
            reverse("console:feed_test", args=[feed.pk]),
        )

    @admin.display(description="")
    def test_link(self, feed: Feed) -> str:
        return format_html('<a href="{}">test</a>', reverse("console:feed_test", args=[feed.pk]))

    @admin.display(description="stored credential")
    def credential_stored(self, feed: Feed) -> str:
        return "stored (encrypted)" if feed.has_secret else "none"

    @admin.display(description="lag")
    def lag_display(self, feed: Feed) -> str:
        lag = feed.lag(timezone.now())
        return "-" if lag is None else str(lag).split(".")[0]

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        started = 0
        for feed in queryset:
            if not feed.enabled:
                self.message_user(request, f"{feed} is paused; resume it first.", messages.WARNING)
                continue
            services.feed_run_now(feed=feed)
            started += 1
        self.message_user(request, f"{started} feed run(s) enqueued.")

    @admin.action(description="Reset position (sync everything again)")
    def reset_position(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        reset = 0
        for feed in queryset:
            try:
                services.feed_reset_position(feed=feed)
                reset += 1
            except services.FeedBusy as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{reset} feed(s) will start over at their next run.")

    @admin.action(description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        for feed in queryset:
            services.feed_pause(feed=feed)
        self.message_user(request, f"{queryset.count()} feed(s) paused.")

    @admin.action(description="Resume")
    def resume(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        for feed in queryset:
            services.feed_resume(feed=feed)
        self.message_user(request, f"{queryset.count()} feed(s) resumed.")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "feed",
        "direction",
        "outcome",
        "started",
        "duration",
        "pages",
        "fetched",
        "stored",
        "duplicates",
        "quarantined",
        "pushed",
        "rejected",
    )
    list_filter = ("outcome", "direction", "feed")
    date_hierarchy = "started"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in SyncRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Quarantine)
class QuarantineAdmin(admin.ModelAdmin):
    list_display = ("stix_id", "feed", "state", "short_reason", "created")
    list_filter = ("state", "feed")
    search_fields = ("stix_id", "reason")
    actions = ["release", "discard"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = [f.name for f in Quarantine._meta.fields if f.name != "raw"]
        if obj is not None and obj.state != Quarantine.PENDING:
            fixed.append("raw")
        return fixed

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="reason")
    def short_reason(self, item: Quarantine) -> str:
        return item.reason[:120]

    @admin.action(description="Release (store through ingest if it now passes)")
    def release(self, request: HttpRequest, queryset: QuerySet[Quarantine]) -> None:
        released = failed = 0
        for item in queryset.filter(state=Quarantine.PENDING).select_related("feed"):
            outcome = services.quarantine_release(item=item, by=request.user)  # type: ignore[arg-type]
            if outcome.ok:
                released += 1
            else:
                failed += 1
        self.message_user(
            request,
            f"{released} released, {failed} still invalid.",
            messages.WARNING if failed else messages.SUCCESS,
        )

    @admin.action(description="Discard")
    def discard(self, request: HttpRequest, queryset: QuerySet[Quarantine]) -> None:
        for item in queryset.filter(state=Quarantine.PENDING):
            services.quarantine_discard(item=item, by=request.user)  # type: ignore[arg-type]
        self.message_user(request, "Discarded.")


def _partner_feeds(partner: Partner) -> str:
    rows = []
    for feed in Feed.objects.filter(partner=partner):
        link = format_html(
            '<a href="{}">{}</a>', reverse("admin:sync_feed_change", args=[feed.pk]), feed.name
        )
        health = format_html(
            '<span class="state state-{}">{}</span>', feed.health.replace(" ", "-"), feed.health
        )
        if feed.consecutive_failures:
            health = format_html("{} x{}", health, feed.consecutive_failures)
        last = feed.last_success.strftime("%Y-%m-%d %H:%M:%S") if feed.last_success else "never"
        rows.append((link, feed.direction, health, last))
    return html_table(("feed", "direction", "state", "last success"), rows, "No feed.")


PARTNER_PANELS["feeds"] = _partner_feeds
