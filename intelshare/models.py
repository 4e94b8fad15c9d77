"""The hub's data: partners and their credentials, API roots, collections,
grants, one row per STIX object version, and POST status resources."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from intelshare import stix

TLP_CHOICES = [(rank, name.upper()) for rank, name in stix.TLP_NAMES.items()]
TAXII_21 = "application/taxii+json;version=2.1"
STIX_21 = "application/stix+json;version=2.1"


class Partner(models.Model):
    """An organisation that exchanges intelligence through the hub."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person or service account; partner users act for their partner.

    Staff users belong to the hub itself (``partner`` empty) and see everything
    through the explicit staff path of ``policy``.
    """

    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token of a user; only its SHA-256 is stored (it has 256 bits of
    entropy, so a fast hash is enough), the token itself is shown once."""

    PREFIX = "isk_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, *, user: User, name: str, expires_at: datetime | None = None
              ) -> tuple[ApiToken, str]:
        """Create a token; returns the row and the plaintext (never stored)."""
        plaintext = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, digest=_token_digest(plaintext),
            hint=plaintext[: len(cls.PREFIX) + 6], expires_at=expires_at,
        )
        return token, plaintext

    @classmethod
    def find_active(cls, plaintext: str) -> ApiToken | None:
        now = timezone.now()
        return (
            cls.objects.select_related("user", "user__partner")
            .filter(digest=_token_digest(plaintext), revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .first()
        )


class ApiRoot(models.Model):
    """A TAXII 2.1 API root (§4.2), served at ``/taxii2/<slug>/``."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    max_content_length = models.PositiveIntegerField(default=20 * 1024 * 1024)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def versions(self) -> list[str]:
        return [TAXII_21]


def _default_media_types() -> list[str]:
    return [STIX_21]


class Collection(models.Model):
    """A TAXII collection (§5.2) and its clock for ``date_added``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_root = models.ForeignKey(ApiRoot, on_delete=models.PROTECT,
                                 related_name="collections")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # NULL, not "", for "no alias": the (api_root, alias) uniqueness ignores NULLs.
    alias = models.SlugField(max_length=100, null=True, blank=True)  # noqa: DJ001
    media_types = models.JSONField(default=_default_media_types)
    default_tlp = models.PositiveSmallIntegerField(
        choices=TLP_CHOICES, default=stix.TLP_AMBER,
        help_text="TLP assumed, for policy only, for versions that carry no TLP marking.",
    )
    # The last date_added handed out; writers lock this row, so stamps grow in
    # commit order (DESIGN.md "Storage").
    last_date_added = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["api_root", "alias"], name="collection_alias_unique")
        ]

    def __str__(self) -> str:
        return self.alias or self.title


class Grant(models.Model):
    """Read and/or write access of one partner to one collection."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="grants")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE,
                                   related_name="grants")
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "collection"], name="grant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.partner} → {self.collection}"


class ObjectVersion(models.Model):
    """One version of one STIX object in one collection.

    ``raw`` is the object's JSON as accepted, served spliced into envelopes;
    the other columns are extracted from it for the queries. Unique per
    collection on (stix_id, version): a re-sent version is a no-op.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE,
                                   related_name="versions", db_index=False)
    stix_id = models.CharField(max_length=300)
    type = models.CharField(max_length=250)
    spec_version = models.CharField(max_length=10, default="2.1")
    version = models.DateTimeField()
    date_added = models.DateTimeField()
    tlp_rank = models.PositiveSmallIntegerField(null=True, choices=TLP_CHOICES)
    source_partner = models.ForeignKey(Partner, null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    has_granular = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)
    is_latest = models.BooleanField(default=True)
    raw = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "stix_id", "version"],
                                    name="version_unique"),
        ]
        indexes = [
            models.Index(fields=["collection", "date_added", "id"], name="version_keyset"),
            models.Index(fields=["collection", "type", "date_added"], name="version_type"),
            models.Index(fields=["collection", "date_added", "id"], name="version_latest",
                         condition=Q(is_latest=True)),
        ]

    def __str__(self) -> str:
        return f"{self.stix_id}@{stix.format_version(self.version)}"


class Status(models.Model):
    """A TAXII status resource (§4.3.1) for one POST to a collection.

    The envelope is kept until it is processed, so a 202 never loses
    anything; the counts and detail lists change in the same transaction as
    the versions they describe.
    """

    PENDING, COMPLETE = "pending", "complete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE,
                                   related_name="statuses")
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey(Partner, null=True, on_delete=models.SET_NULL,
                                related_name="+")
    status = models.CharField(max_length=10, default=PENDING,
                              choices=[(PENDING, PENDING), (COMPLETE, COMPLETE)])
    request_timestamp = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    total_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    pending_count = models.PositiveIntegerField(default=0)
    successes = models.JSONField(default=list)
    failures = models.JSONField(default=list)
    pendings = models.JSONField(default=list)
    # Objects not yet processed (JSON array text); emptied when complete.
    envelope = models.TextField(blank=True, default="")

    class Meta:
        verbose_name_plural = "statuses"
        indexes = [models.Index(fields=["status", "request_timestamp"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"
