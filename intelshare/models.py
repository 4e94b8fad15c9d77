"""The hub's data: partners and their credentials, API roots, collections,
grants, one row per STIX object version, and POST status resources."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from intelshare import stix

TLP_CHOICES = [(rank, name.upper()) for rank, name in stix.TLP_NAMES.items()]
TAXII_21 = "application/taxii+json;version=2.1"
STIX_21 = "application/stix+json;version=2.1"


def now() -> datetime:
    """The current time, looked up at call time (tests move the clock)."""
    return timezone.now()


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
    """A person or service account; partner users act for their partner, staff
    users (no partner) belong to the hub.
    """

    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    @property
    def is_hub_staff(self) -> bool:
        """Active staff belonging to no partner: a partner's people are never staff,
        whatever their ``is_staff`` flag says (TAXII, admin and management API)."""
        return bool(self.is_active and self.is_staff and self.partner_id is None)


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
    def issue(
        cls, *, user: User, name: str, expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """Create a token; returns the row and the plaintext (never stored)."""
        plaintext = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            digest=_token_digest(plaintext),
            hint=plaintext[: len(cls.PREFIX) + 6],
            expires_at=expires_at,
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


@dataclass(frozen=True, slots=True)
class StoredFacts:
    """Upper bounds of what a collection's stored versions carry: raised in the
    transaction that stores a version, never lowered (a deletion leaves them), so
    that the policy can tell, without looking at versions, that it has nothing to
    withhold from a partner. Ranks are TLP ranks; -1 is "none"."""

    rank: int = -1  # highest TLP marking
    unmarked: bool = False  # a version without a TLP marking (the default applies)
    granular: int = -1  # highest granular TLP marking
    partner_rank: int = -1  # highest TLP marking of a partner's contribution
    partner_unmarked: bool = False
    partner_sightings: bool = False

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> StoredFacts:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def raised(
        self, *, rank: int | None, granular: int | None, partner: bool, sighting: bool
    ) -> StoredFacts:
        """These facts with one more stored version's."""
        mark = -1 if rank is None else rank
        return StoredFacts(
            rank=max(self.rank, mark),
            unmarked=self.unmarked or rank is None,
            granular=max(self.granular, -1 if granular is None else granular),
            partner_rank=max(self.partner_rank, mark) if partner else self.partner_rank,
            partner_unmarked=self.partner_unmarked or (partner and rank is None),
            partner_sightings=self.partner_sightings or (partner and sighting),
        )

    def raised_by(self, kinds: Iterable[tuple[int | None, int | None, bool, bool]]) -> StoredFacts:
        """These facts with versions of the given (TLP rank, granular rank, a
        partner's, a sighting) kinds stored."""
        facts = self
        for rank, granular, partner, sighting in kinds:
            facts = facts.raised(rank=rank, granular=granular, partner=partner, sighting=sighting)
        return facts

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Collection(models.Model):
    """A TAXII collection (§5.2) and its clock for ``date_added``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_root = models.ForeignKey(ApiRoot, on_delete=models.PROTECT, related_name="collections")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # NULL, not "", for "no alias": the (api_root, alias) uniqueness ignores NULLs.
    alias = models.SlugField(max_length=100, null=True, blank=True)  # noqa: DJ001
    media_types = models.JSONField(default=_default_media_types)
    default_tlp = models.PositiveSmallIntegerField(
        choices=TLP_CHOICES,
        default=stix.TLP_AMBER,
        help_text="TLP assumed, for policy only, for versions that carry no TLP marking.",
    )
    # The last date_added handed out; writers lock this row (stamps in commit order).
    last_date_added = models.DateTimeField(null=True, blank=True, editable=False)
    # StoredFacts, written with the clock under the same row lock.
    stored_facts = models.JSONField(default=dict, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["api_root", "alias"], name="collection_alias_unique")
        ]

    def __str__(self) -> str:
        return self.alias or self.title

    @property
    def facts(self) -> StoredFacts:
        return StoredFacts.of(self.stored_facts)


class Agreement(models.Model):
    """A partner's agreement: its grants and rules; changed through ``intelshare.services``."""

    WITHHOLD, REDACT = "withhold", "redact"
    NAMED, ANONYMOUS, UNSHARED = "named", "anonymous", "none"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="agreements")
    name = models.CharField(max_length=200)
    tlp_ceiling = models.PositiveSmallIntegerField(
        choices=TLP_CHOICES,
        default=stix.TLP_GREEN,
        help_text="Highest TLP level this partner may receive.",
    )
    allowed_types = models.JSONField(
        null=True, blank=True, help_text="STIX types the partner may receive; empty = all."
    )
    denied_types = models.JSONField(
        default=list, blank=True, help_text="STIX types never sent to the partner."
    )
    embargo = models.DurationField(
        default=timedelta(0),
        help_text="A version reaches the partner this long after it "
        "was added; its date_added is shifted alike.",
    )
    valid_from = models.DateTimeField(default=now)
    valid_until = models.DateTimeField(null=True, blank=True)
    granular_mode = models.CharField(
        max_length=10,
        default=WITHHOLD,
        choices=[(WITHHOLD, "withhold the version"), (REDACT, "remove the marked properties")],
        help_text="What happens to a version with a property marked above the ceiling.",
    )
    consents = models.ManyToManyField(
        Partner,
        blank=True,
        related_name="consented_by",
        help_text="Partners that may receive this partner's TLP:AMBER contributions.",
    )
    sightings = models.CharField(
        max_length=10,
        default=ANONYMOUS,
        choices=[
            (NAMED, "named: each sighting goes to the sighted object's originator"),
            (ANONYMOUS, "anonymous: only counted in the hub's roll-up"),
            (UNSHARED, "none: kept on the hub"),
        ],
        help_text="How this partner's sightings are shared.",
    )
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="TAXII requests per minute; empty = the hub default."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["partner__name", "name"]

    def __str__(self) -> str:
        return f"{self.partner}: {self.name}"

    def active_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


class Grant(models.Model):
    """One partner's access to one collection (``partner`` repeats the agreement's)."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="grants")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="grants")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="grants")
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "collection"], name="grant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.partner} → {self.collection}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.partner_id = self.agreement.partner_id
        super().save(*args, **kwargs)


class ObjectVersion(models.Model):
    """One version of one STIX object in one collection: ``raw`` as accepted, the
    other columns extracted from it."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="versions", db_index=False
    )
    stix_id = models.CharField(max_length=300)
    type = models.CharField(max_length=250)
    spec_version = models.CharField(max_length=10, default="2.1")
    version = models.DateTimeField()
    date_added = models.DateTimeField()
    tlp_rank = models.PositiveSmallIntegerField(null=True, choices=TLP_CHOICES)
    # Partial index: most versions are the hub's own (NULL).
    source_partner = models.ForeignKey(
        Partner, null=True, blank=True, db_index=False, on_delete=models.SET_NULL, related_name="+"
    )
    # Provenance: "post:<status>", "feed:<id>/run:<id>", "pack", "atlas", "cli:<file>"…
    origin = models.CharField(max_length=100, blank=True, default="")
    has_granular = models.BooleanField(default=False)
    # Highest TLP of the granular markings, and of those on required properties.
    granular_rank = models.PositiveSmallIntegerField(null=True)
    granular_required_rank = models.PositiveSmallIntegerField(null=True)
    has_refs = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)
    is_latest = models.BooleanField(default=True)
    raw = models.TextField()
    # A partner's sighting reaches only this partner (the originator, when named).
    routed_to = models.ForeignKey(
        Partner, null=True, blank=True, db_index=False, on_delete=models.SET_NULL, related_name="+"
    )
    # stix.search_label(raw): trigram-indexed on PostgreSQL (migration 0004).
    label = models.TextField(default="", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "stix_id", "version"], name="version_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["collection", "date_added", "id"], name="version_keyset"),
            models.Index(fields=["collection", "type", "date_added"], name="version_type"),
            models.Index(
                fields=["collection", "date_added", "id"],
                name="version_latest",
                condition=Q(is_latest=True),
            ),
            models.Index(
                fields=["source_partner"],
                name="version_source_partner",
                condition=Q(source_partner__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stix_id}@{stix.format_version(self.version)}"


class VersionRef(models.Model):
    """A reference the sharing policy follows: a relationship's or sighting's
    endpoint, or a member of a report, grouping, note or opinion."""

    ENDPOINT, MEMBER = "endpoint", "member"

    # ``ref_version`` (version, kind) serves every lookup by version; no second index.
    version = models.ForeignKey(
        ObjectVersion, on_delete=models.CASCADE, related_name="refs", db_index=False
    )
    ref = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=[(ENDPOINT, ENDPOINT), (MEMBER, MEMBER)])

    class Meta:
        indexes = [models.Index(fields=["version", "kind"], name="ref_version")]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


class Reveal(models.Model):
    """A version newly revealed to a partner when its agreement widened: in that
    partner's view it counts as added at ``revealed_at`` (DESIGN.md "widening")."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="reveals")
    version = models.ForeignKey(ObjectVersion, on_delete=models.CASCADE, related_name="reveals")
    revealed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["grant", "version"], name="reveal_unique")]
        indexes = [models.Index(fields=["grant", "revealed_at", "version"], name="reveal_keyset")]

    def __str__(self) -> str:
        return f"{self.version_id} revealed at {self.revealed_at:%Y-%m-%dT%H:%M:%S.%fZ}"


class AuditEvent(models.Model):
    """One TAXII request: who asked, what, the answer, and which versions were
    served or stored ("which versions of X did partner P receive, and when")."""

    at = models.DateTimeField()
    partner = models.ForeignKey(Partner, null=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    token = models.ForeignKey(ApiToken, null=True, on_delete=models.SET_NULL, related_name="+")
    method = models.CharField(max_length=10)
    endpoint = models.CharField(max_length=40)
    collection = models.ForeignKey(
        Collection, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_id = models.CharField(max_length=300, blank=True)
    filters = models.JSONField(default=dict)
    status_code = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField(default=0)
    # Primary keys of the ObjectVersion rows served (reads) or stored (writes).
    versions = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(fields=["partner", "at"]),
            models.Index(fields=["collection", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.partner} {self.method} {self.endpoint}"


class Status(models.Model):
    """A TAXII status resource (§4.3.1); its counts change with the versions they count."""

    PENDING, COMPLETE = "pending", "complete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="statuses")
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey(Partner, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(
        max_length=10, default=PENDING, choices=[(PENDING, PENDING), (COMPLETE, COMPLETE)]
    )
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
