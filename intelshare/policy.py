"""The one place that decides what a caller may see (DESIGN.md "Sharing policy").

Every partner-facing read of ``ObjectVersion`` starts from ``visible()``;
staff reads start from ``staff_versions()``. Both return a ``View``: the
narrowed queryset, applied in SQL so pages stay full and ``more``/``next``
stay truthful, plus how to pick first/last versions within it.

Foundation rule: a partner sees every version of a collection it holds a
read grant on; a collection it holds no grant on does not exist for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from intelshare.models import ApiRoot, Collection, Grant, ObjectVersion, Partner, User


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a partner user, or the hub's staff."""

    user_id: int | None
    partner_id: int | None
    is_staff: bool

    @classmethod
    def of(cls, user: User) -> Caller:
        return cls(user_id=user.pk, partner_id=user.partner_id,
                   is_staff=bool(user.is_staff and user.is_active))


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's rights on one collection (TAXII ``can_read``/``can_write``)."""

    can_read: bool
    can_write: bool


STAFF_ACCESS = Access(can_read=True, can_write=True)


def collections(caller: Caller, api_root: ApiRoot) -> list[tuple[Collection, Access]]:
    """The collections of ``api_root`` that exist for ``caller``, in a stable order."""
    colls = Collection.objects.filter(api_root=api_root).order_by("created", "id")
    if caller.is_staff:
        return [(c, STAFF_ACCESS) for c in colls]
    if caller.partner_id is None:
        return []
    grants = Grant.objects.filter(partner_id=caller.partner_id, collection__api_root=api_root)
    by_collection = {g.collection_id: Access(g.can_read, g.can_write) for g in grants}
    return [(c, by_collection[c.pk]) for c in colls
            if c.pk in by_collection and (by_collection[c.pk].can_read
                                          or by_collection[c.pk].can_write)]


def access(caller: Caller, collection: Collection) -> Access | None:
    """``caller``'s rights on ``collection``; ``None`` when it does not exist for them."""
    if caller.is_staff:
        return STAFF_ACCESS
    if caller.partner_id is None:
        return None
    grant = Grant.objects.filter(partner_id=caller.partner_id, collection=collection).first()
    if grant is None or not (grant.can_read or grant.can_write):
        return None
    return Access(grant.can_read, grant.can_write)


@dataclass(frozen=True)
class View:
    """The versions of one collection visible to one caller at one instant."""

    versions: QuerySet[ObjectVersion]
    # True when every version of a visible object is visible, so the stored
    # ``is_latest`` flag is exact; otherwise "latest" is computed in SQL
    # among the visible versions.
    whole_objects: bool

    def latest(self) -> QuerySet[ObjectVersion]:
        if self.whole_objects:
            return self.versions.filter(is_latest=True)
        newer = self.versions.filter(stix_id=OuterRef("stix_id"), version__gt=OuterRef("version"))
        return self.versions.filter(~Exists(newer))

    def first(self) -> QuerySet[ObjectVersion]:
        older = self.versions.filter(stix_id=OuterRef("stix_id"), version__lt=OuterRef("version"))
        return self.versions.filter(~Exists(older))


def _versions_of(collection: Collection) -> QuerySet[ObjectVersion]:
    return ObjectVersion.objects.filter(collection=collection)


def visible(*, partner: Partner, collection: Collection, now: datetime) -> View:
    """The only partner-facing read of object versions.

    A partner with a read grant sees the collection's versions; without one,
    nothing (``now`` is the instant the rules are evaluated at).
    """
    del now  # time-based rules join with the sharing agreements
    readable = Grant.objects.filter(partner=partner, collection=collection,
                                    can_read=True).exists()
    versions = _versions_of(collection) if readable else ObjectVersion.objects.none()
    return View(versions=versions, whole_objects=True)


def staff_versions(*, collection: Collection) -> View:
    """Every version of ``collection``: the hub's staff path, never a partner's."""
    return View(versions=_versions_of(collection), whole_objects=True)


def view_for(caller: Caller, collection: Collection, now: datetime) -> View:
    """Dispatch a caller to the staff path or to their partner's ``visible()``."""
    if caller.is_staff:
        return staff_versions(collection=collection)
    if caller.partner_id is None:
        return View(versions=ObjectVersion.objects.none(), whole_objects=True)
    partner = Partner(pk=caller.partner_id)
    return visible(partner=partner, collection=collection, now=now)
