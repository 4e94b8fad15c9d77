"""Partner feeds (DESIGN.md "Sync"): what to sync with whom, every run, and the
inbound objects that failed validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from intelshare import stix
from intelshare.models import TLP_CHOICES, Collection, Partner, User
from sync import crypto


class Feed(models.Model):
    """One partner TAXII collection the hub pulls from or pushes to."""

    PULL, PUSH = "pull", "push"
    AUTH_NONE, AUTH_BASIC, AUTH_BEARER, AUTH_HEADER = "none", "basic", "bearer", "header"
    DIRECTIONS = [(PULL, "pull (partner → hub)"), (PUSH, "push (hub → partner)")]
    AUTH_TYPES = [
        (AUTH_NONE, "none"),
        (AUTH_BASIC, "HTTP Basic"),
        (AUTH_BEARER, "bearer token"),
        (AUTH_HEADER, "custom header"),
    ]

    name = models.SlugField(max_length=100, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="feeds")
    direction = models.CharField(max_length=4, choices=DIRECTIONS, default=PULL)
    api_root_url = models.URLField(max_length=500, help_text="The remote TAXII API root.")
    remote_collection_id = models.CharField(max_length=300)
    taxii_version = models.CharField(
        max_length=3, default="2.1", choices=[("2.1", "TAXII 2.1"), ("2.0", "TAXII 2.0")]
    )
    auth_type = models.CharField(max_length=6, choices=AUTH_TYPES, default=AUTH_NONE)
    username = models.CharField(max_length=200, blank=True, help_text="HTTP Basic user name.")
    header_name = models.CharField(
        max_length=100, blank=True, help_text="Header carrying the key, e.g. X-Api-Key."
    )
    # Fernet token of the password, bearer token or header value; never displayed.
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    client_cert = models.CharField(
        max_length=500, blank=True, help_text="Path of a PEM client certificate (TAXII 2.1 §8.3.1)."
    )
    client_key = models.CharField(
        max_length=500, blank=True, help_text="Path of its key, if not inside the certificate file."
    )
    verify_tls = models.BooleanField(default=True)
    ca_bundle = models.CharField(
        max_length=500,
        blank=True,
        help_text="Path of a CA bundle to trust instead of the system's.",
    )
    collection = models.ForeignKey(
        Collection,
        on_delete=models.PROTECT,
        related_name="feeds",
        help_text="Local collection pulled into or pushed from.",
    )
    interval = models.DurationField(default=timedelta(minutes=15))
    page_size = models.PositiveIntegerField(default=500)
    default_tlp = models.PositiveSmallIntegerField(
        choices=TLP_CHOICES,
        default=stix.TLP_AMBER,
        help_text="TLP assumed, for policy only, for pulled objects with no TLP marking.",
    )
    enabled = models.BooleanField(default=True)

    checkpoint = models.DateTimeField(
        null=True, blank=True, help_text="Pull resumes with added_after = this."
    )
    push_cursor_date = models.DateTimeField(null=True, blank=True)
    push_cursor_pk = models.BigIntegerField(null=True, blank=True)
    # A pushed envelope whose status was not yet read back: {"status_id", "items"}.
    push_inflight = models.JSONField(null=True, blank=True, editable=False)
    remote_added_last = models.DateTimeField(
        null=True, blank=True, help_text="Newest date_added seen (pull) or pushed (push)."
    )

    last_success = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=200, blank=True, default="", editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.auth_type == self.AUTH_BASIC and not self.username:
            errors["username"] = "HTTP Basic needs a user name."
        if self.auth_type == self.AUTH_HEADER and not self.header_name:
            errors["header_name"] = "A custom-header feed needs the header's name."
        if self.direction == self.PUSH and self.taxii_version != "2.1":
            errors["taxii_version"] = "Push needs a TAXII 2.1 server."
        parts = urlsplit(self.api_root_url or "")
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            errors["api_root_url"] = (
                "An http(s) URL without credentials in it (the credential is stored encrypted)."
            )
        if self.client_key and not self.client_cert:
            errors["client_key"] = "A client key needs its certificate."
        if self.page_size < 1:
            errors["page_size"] = "At least 1."
        if self.interval <= timedelta(0):
            errors["interval"] = "Must be positive."
        if errors:
            raise ValidationError(errors)

    @property
    def secret(self) -> str:
        """The decrypted credential (for the client only; never log or show it)."""
        return crypto.decrypt(self.secret_encrypted)

    def set_secret(self, plaintext: str) -> None:
        self.secret_encrypted = crypto.encrypt(plaintext)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def healthy(self) -> bool:
        """Ran and its last run worked; a feed that never ran is not healthy yet."""
        return self.consecutive_failures == 0 and self.last_success is not None

    @property
    def health(self) -> str:
        """ "paused", "failing", "never run" or "healthy", in that order."""
        if not self.enabled:
            return "paused"
        if self.consecutive_failures:
            return "failing"
        return "never run" if self.last_success is None else "healthy"

    def lag(self, now: datetime | None = None) -> timedelta | None:
        """How far behind the partner the hub may be: the time since the last
        successful run, which fetched (pull) or sent (push) everything newer there
        was. A quiet feed that just succeeded has no lag, whatever the age of the
        newest data; a feed that never succeeded has none to show (None)."""
        if self.last_success is None:
            return None
        return max(timedelta(0), (now or timezone.now()) - self.last_success)


class SyncRun(models.Model):
    """One run of a feed: what it fetched, stored, pushed or failed, and where its
    checkpoint stood before and after (for push: the cursor's view date)."""

    RUNNING, SUCCESS, PARTIAL, FAILED, ABANDONED = (
        "running",
        "success",
        "partial",
        "failed",
        "abandoned",
    )
    OUTCOMES = [
        (RUNNING, "running"),
        (SUCCESS, "success"),
        (PARTIAL, "stopped early; continues next run"),
        (FAILED, "failed"),
        (ABANDONED, "abandoned (worker lost)"),
    ]

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="runs")
    direction = models.CharField(max_length=4, choices=Feed.DIRECTIONS)
    task_id = models.CharField(
        max_length=200, blank=True, default="", help_text="Celery task id, or 'cli:…' / 'admin:…'."
    )
    outcome = models.CharField(max_length=10, choices=OUTCOMES, default=RUNNING)
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    pushed = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # TAXII status failure details (§4.3.1) of rejected objects: id, version, message.
    rejections = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    checkpoint_before = models.DateTimeField(null=True, blank=True)
    checkpoint_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [models.Index(fields=["feed", "-started"], name="syncrun_feed_started")]

    def __str__(self) -> str:
        return f"{self.feed} {self.direction} {self.started:%Y-%m-%d %H:%M:%S} {self.outcome}"

    @property
    def duration(self) -> timedelta | None:
        return None if self.finished is None else self.finished - self.started


class Quarantine(models.Model):
    """An inbound object that failed validation, kept with the reason until staff
    release (through ``ingest``) or discard it.
    """

    PENDING, RELEASED, DISCARDED = "pending", "released", "discarded"
    STATES = [(PENDING, "pending"), (RELEASED, "released"), (DISCARDED, "discarded")]

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="quarantine")
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="quarantine"
    )
    stix_id = models.CharField(max_length=300, blank=True)
    version = models.CharField(max_length=40, blank=True)
    raw = models.TextField(help_text="The object's JSON as received.")
    # SHA-256 of the JSON as received: the same bad object is quarantined once per feed.
    digest = models.CharField(max_length=64, editable=False)
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=STATES, default=PENDING)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "quarantine"
        constraints = [
            models.UniqueConstraint(fields=["feed", "digest"], name="quarantine_once"),
        ]
        indexes = [
            models.Index(fields=["state", "created"], name="quarantine_state"),
            models.Index(fields=["feed"], condition=Q(state="pending"), name="quarantine_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.stix_id or '(no id)'} from {self.feed} ({self.state})"


class Recall(models.Model):
    """Versions deleted on the hub, with who had received them: partners that pulled
    them (from the audit, snapshot at deletion) and push feeds that delivered them,
    each asked to delete them on its server (``RecallDelivery``)."""

    at = models.DateTimeField()
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    stix_id = models.CharField(max_length=300)
    versions = models.JSONField(default=list)  # version texts, as served
    by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["stix_id"], name="recall_stix_id")]

    def __str__(self) -> str:
        return f"{self.stix_id} ({len(self.versions)} versions, {self.at:%Y-%m-%d %H:%M})"


class RecallReceipt(models.Model):
    """One version a partner received before it was deleted: pulled (a TAXII GET of
    the hub) or pushed by a feed; ``at`` is when."""

    PULL, PUSH = "pull", "push"
    recall = models.ForeignKey(Recall, on_delete=models.CASCADE, related_name="receipts")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    via = models.CharField(max_length=4, choices=[(PULL, "pull"), (PUSH, "push")])
    feed = models.ForeignKey(
        Feed, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    version = models.CharField(max_length=40)
    endpoint = models.CharField(max_length=40)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.via} {self.version} at {self.at:%Y-%m-%d %H:%M}"


class RecallDelivery(models.Model):
    """A TAXII DELETE (§5.7) owed to one push feed's server for a recall. A refusal
    (4xx) is recorded and never retried; an unreachable server is retried with
    backoff up to ``MAX_ATTEMPTS``, then marked failed."""

    PENDING, DONE, REFUSED, FAILED = "pending", "done", "refused", "failed"
    STATES = [(PENDING, "pending"), (DONE, "done"), (REFUSED, "refused"), (FAILED, "failed")]
    MAX_ATTEMPTS = 6

    recall = models.ForeignKey(Recall, on_delete=models.CASCADE, related_name="deliveries")
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="recalls")
    versions = models.JSONField(default=list)
    state = models.CharField(max_length=8, choices=STATES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")
    next_attempt = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        ordering = ["-updated", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt"], condition=Q(state="pending"), name="recall_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recall.stix_id} → {self.feed} ({self.state})"
