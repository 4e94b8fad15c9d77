"""The one place that writes STIX object versions (DESIGN.md "one ingest path")."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

import orjson
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from intelshare import signals, stix
from intelshare.db import bulk, stats
from intelshare.models import (
    Collection,
    ObjectVersion,
    Partner,
    StoredFacts,
    User,
    VersionRef,
)

logger = logging.getLogger(__name__)

TICK = timedelta(microseconds=1)
_CHUNK = 500
# ObjectVersion columns in the order of the rows ``_insert`` builds.
_VERSION_FIELDS = (
    "collection_id",
    "stix_id",
    "type",
    "spec_version",
    "version",
    "date_added",
    "tlp_rank",
    "source_partner_id",
    "origin",
    "has_granular",
    "granular_rank",
    "granular_required_rank",
    "has_refs",
    "revoked",
    "is_latest",
    "raw",
    "label",
    "routed_to_id",
)

# Extra per-object checks (e.g. extension schemas); each returns error strings.
Check = Callable[[dict[str, Any]], list[str]]
_checks: list[Check] = []


def register_check(check: Check) -> None:
    """Add a per-object validation run on every inbound object."""
    if check not in _checks:
        _checks.append(check)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one inbound object (a TAXII status-details entry)."""

    id: str
    version: str
    ok: bool
    stored: bool = False
    message: str = ""

    def as_status_detail(self) -> dict[str, str]:
        detail = {"id": self.id, "version": self.version}
        if self.message:
            detail["message"] = self.message
        return detail


@dataclass(slots=True)
class StoreResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(1 for o in self.outcomes if o.stored)

    @property
    def duplicate(self) -> int:
        return sum(1 for o in self.outcomes if o.ok and not o.stored)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)


@dataclass(slots=True)
class _Candidate:
    obj: dict[str, Any]
    facts: stix.Facts
    raw: str


class _Stored(NamedTuple):
    """A version already in the collection."""

    pk: int
    version: datetime
    is_latest: bool


@dataclass(slots=True)
class _NewVersion:
    """A version to insert; its ``is_latest`` is known once the whole batch is seen."""

    facts: stix.Facts
    version: datetime
    date_added: datetime
    raw: str


def describe(obj: Any) -> tuple[str, str]:
    """Best-effort id and version of an object that failed validation."""
    if not isinstance(obj, dict):
        return "", ""
    oid = obj.get("id") if isinstance(obj.get("id"), str) else ""
    version = obj.get("modified") or obj.get("created") or ""
    return oid, version if isinstance(version, str) else ""


def validate(obj: Any) -> tuple[_Candidate | None, Outcome | None]:
    """Check one object; returns a candidate to store or a failure outcome."""
    try:
        facts = stix.inspect(obj)
        errors = [error for check in _checks for error in check(obj)]
        if errors:
            raise stix.InvalidStix("; ".join(errors))
        raw = orjson.dumps(obj).decode()
    except (stix.InvalidStix, orjson.JSONEncodeError, TypeError) as exc:
        oid, version = describe(obj)
        return None, Outcome(oid, version, ok=False, message=str(exc)[:1000])
    return _Candidate(obj, facts, raw), None


def store(
    *,
    collection: Collection,
    objects: Sequence[Any],
    source_partner: Partner | None = None,
    default_tlp: int | None = None,
    origin: str = "",
    routes: Mapping[str, int] | None = None,
) -> StoreResult:
    """Validate ``objects`` and store every valid version not stored yet."""
    slots: list[Outcome | _Candidate] = []
    for obj in objects:
        candidate, failure = validate(obj)
        slots.append(candidate if candidate is not None else failure)  # type: ignore[arg-type]
    candidates = [s for s in slots if isinstance(s, _Candidate)]
    decided: dict[int, Outcome] = {}
    if candidates:
        with transaction.atomic():
            decided = _store_candidates(
                collection, candidates, source_partner, default_tlp, origin[:100], routes or {}
            )
            inserted = sum(1 for o in decided.values() if o.stored)
            transaction.on_commit(partial(stats.refresh_after, inserted))
    result = StoreResult()
    for slot in slots:
        result.outcomes.append(decided[id(slot)] if isinstance(slot, _Candidate) else slot)
    logger.info(
        "collection %s: %d stored, %d duplicate, %d failed",
        collection.pk,
        result.new,
        result.duplicate,
        result.failed,
    )
    signals.objects_ingested.send(
        sender=store,
        collection=collection,
        new=result.new,
        duplicate=result.duplicate,
        failed=result.failed,
    )
    return result


def recount_facts(collection: Collection) -> StoredFacts:
    """The collection's stored facts counted again from its versions (ingest only
    ever raises them; after deletions this may lower them), under the clock's lock."""
    with transaction.atomic():
        _lock_clock(collection)
        kinds = (
            ObjectVersion.objects.filter(collection=collection)
            .annotate(
                partner=ExpressionWrapper(
                    Q(source_partner__isnull=False), output_field=BooleanField()
                ),
                sighting=ExpressionWrapper(Q(type="sighting"), output_field=BooleanField()),
            )
            .values_list("tlp_rank", "granular_rank", "partner", "sighting")
            .order_by()
            .distinct()
        )
        facts = StoredFacts().raised_by(kinds)
        Collection.objects.filter(pk=collection.pk).update(stored_facts=facts.as_json())
    return facts


def _lock_clock(collection: Collection) -> Collection:
    """The collection's clock and stored facts, locked until the transaction ends."""
    return (
        Collection.objects.select_for_update()
        .only("pk", "last_date_added", "stored_facts")
        .get(pk=collection.pk)
    )


def _existing(collection: Collection, stix_ids: Iterable[str]) -> dict[str, list[_Stored]]:
    """The stored versions of each of ``stix_ids``."""
    found: dict[str, list[_Stored]] = {}
    rows = bulk.select_by_keys(
        ObjectVersion,
        where={"collection_id": collection.pk},
        key="stix_id",
        values=list(stix_ids),
        columns=("stix_id", "id", "version", "is_latest"),
    )
    for stix_id, pk, version, is_latest in rows:
        found.setdefault(stix_id, []).append(_Stored(pk, version, is_latest))
    return found


def _store_candidates(
    collection: Collection,
    candidates: list[_Candidate],
    source_partner: Partner | None,
    default_tlp: int | None,
    origin: str,
    routes: Mapping[str, int],
) -> dict[int, Outcome]:
    locked = _lock_clock(collection)
    last = locked.last_date_added
    existing = _existing(collection, {c.facts.stix_id for c in candidates})
    unversioned_raws = _unversioned_raws(
        collection, {c.facts.stix_id for c in candidates if c.facts.version is None}
    )
    now = timezone.now()
    stamp = now if last is None or now > last else last + TICK
    latest: dict[str, datetime] = {
        sid: max(s.version for s in stored) for sid, stored in existing.items()
    }
    seen = {(sid, s.version) for sid, stored in existing.items() for s in stored}
    decided: dict[int, Outcome] = {}
    new: list[_NewVersion] = []
    for cand in candidates:
        facts = cand.facts
        version = facts.version
        if version is None:
            # An unversioned object (an SCO without created/modified): an
            # identical re-send is a duplicate; new content is a new version.
            if cand.raw in unversioned_raws.get(facts.stix_id, ()):
                decided[id(cand)] = Outcome(
                    facts.stix_id, "", ok=True, message="version already present"
                )
                continue
            version = stamp
            unversioned_raws.setdefault(facts.stix_id, set()).add(cand.raw)
        text_version = facts.version_text or stix.format_version(version)
        if (facts.stix_id, version) in seen:
            decided[id(cand)] = Outcome(
                facts.stix_id, text_version, ok=True, message="version already present"
            )
            continue
        seen.add((facts.stix_id, version))
        new.append(_NewVersion(facts, version, stamp, cand.raw))
        if facts.stix_id not in latest or version > latest[facts.stix_id]:
            latest[facts.stix_id] = version
        decided[id(cand)] = Outcome(facts.stix_id, text_version, ok=True, stored=True)
        stamp += TICK
    if new:
        _demote(
            [
                s.pk
                for sid, stored in existing.items()
                for s in stored
                if s.is_latest and s.version < latest[sid]
            ]
        )
        _insert(collection, new, latest, source_partner, default_tlp, origin, routes)
        bounds = locked.facts.raised_by(
            {
                (
                    default_tlp if n.facts.tlp_rank is None else n.facts.tlp_rank,
                    n.facts.granular_rank,
                    source_partner is not None,
                    n.facts.type == "sighting",
                )
                for n in new
            }
        )
        Collection.objects.filter(pk=collection.pk).update(
            last_date_added=stamp - TICK, stored_facts=bounds.as_json()
        )
    return decided


def _demote(pks: list[int]) -> None:
    """Clear ``is_latest`` on stored versions a newer version superseded."""
    for start in range(0, len(pks), _CHUNK):
        ObjectVersion.objects.filter(pk__in=pks[start : start + _CHUNK]).update(is_latest=False)


def _insert(
    collection: Collection,
    new: list[_NewVersion],
    latest: dict[str, datetime],
    source_partner: Partner | None,
    default_tlp: int | None,
    origin: str,
    routes: Mapping[str, int],
) -> None:
    """Insert the new versions and their references (``bulk``: COPY on PostgreSQL)."""
    partner_id = source_partner.pk if source_partner is not None else None
    rows = [
        (
            collection.pk,
            n.facts.stix_id,
            n.facts.type,
            n.facts.spec_version,
            n.version,
            n.date_added,
            default_tlp if n.facts.tlp_rank is None else n.facts.tlp_rank,
            partner_id,
            origin,
            n.facts.has_granular,
            n.facts.granular_rank,
            n.facts.granular_required_rank,
            bool(n.facts.refs),
            n.facts.revoked,
            n.version == latest[n.facts.stix_id],
            n.raw,
            n.facts.label,
            routes.get(n.facts.stix_id) if n.facts.type == "sighting" else None,
        )
        for n in new
    ]
    pks = bulk.insert_returning_pks(ObjectVersion, _VERSION_FIELDS, rows)
    bulk.insert(
        VersionRef,
        ("version_id", "ref", "kind"),
        [(pk, ref, kind) for pk, n in zip(pks, new, strict=True) for ref, kind in n.facts.refs],
    )


def _unversioned_raws(collection: Collection, stix_ids: set[str]) -> dict[str, set[str]]:
    """The stored JSON texts of each of ``stix_ids`` (unversioned SCOs)."""
    found: dict[str, set[str]] = {}
    rows = bulk.select_by_keys(
        ObjectVersion,
        where={"collection_id": collection.pk},
        key="stix_id",
        values=list(stix_ids),
        columns=("stix_id", "raw"),
    )
    for stix_id, raw in rows:
        found.setdefault(stix_id, set()).add(raw)
    return found


def delete(
    *,
    collection: Collection,
    stix_id: str,
    version_pks: Sequence[int],
    by: User | None = None,
) -> int:
    """Delete the given versions of one object (TAXII §5.7); returns how many."""
    with transaction.atomic():
        _lock_clock(collection)
        versions = ObjectVersion.objects.filter(collection=collection, stix_id=stix_id)
        doomed = list(versions.filter(pk__in=list(version_pks)).values_list("pk", "version"))
        if doomed:
            signals.versions_deleting.send(
                sender=ObjectVersion,
                collection=collection,
                stix_id=stix_id,
                versions=[(pk, stix.format_version(v)) for pk, v in doomed],
                by=by,
            )
        deleted, _ = versions.filter(pk__in=[pk for pk, _ in doomed]).delete()
        newest = versions.order_by("-version").values_list("pk", flat=True).first()
        if newest is not None:
            versions.exclude(pk=newest).filter(is_latest=True).update(is_latest=False)
            versions.filter(pk=newest).update(is_latest=True)
    logger.info("collection %s: deleted %d versions of %s", collection.pk, deleted, stix_id)
    return deleted
