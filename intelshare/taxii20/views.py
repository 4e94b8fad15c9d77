"""TAXII 2.0 endpoints (TAXII 2.0 CS01 §4, §5) over the 2.1 face's storage and policy."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

import orjson
from django.db.models import Q
from django.http import HttpResponse
from rest_framework.request import Request

from intelshare import policy, stix, submissions
from intelshare.models import ApiRoot, Collection, Status, User
from intelshare.taxii import envelope, filters, pages
from intelshare.taxii.errors import Forbidden, NotFound, PayloadTooLarge, Unprocessable
from intelshare.taxii.views import CollectionScopedView, TaxiiView
from intelshare.taxii20 import convert, media, ranges
from intelshare.taxii20.media import STIX_20, TAXII_20

logger = logging.getLogger(__name__)
F = filters
OBJECTS_FILTERS = frozenset({F.ADDED_AFTER, F.M_ID, F.M_TYPE, F.M_VERSION})
OBJECT_FILTERS = frozenset({F.ADDED_AFTER, F.M_VERSION})
_21_MEDIA = frozenset({"application/taxii+json;version=2.1"})


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type=TAXII_20)


class Taxii20Mixin:
    """Negotiates the 2.0 media types; every answer, errors included, is 2.0."""

    serves_stix = False  # a STIX bundle (objects endpoints) or a TAXII resource

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if not force:
            media.check_accept(request.META.get("HTTP_ACCEPT"), stix=self.serves_stix)
        return (None, TAXII_20)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        # Errors are rendered by the shared TAXII error handler, in 2.1's media type.
        if response.get("Content-Type", "").replace(" ", "") in _21_MEDIA:
            response["Content-Type"] = TAXII_20
        return response


class Discovery20View(Taxii20Mixin, TaxiiView):
    """TAXII 2.0 §4.1 Server Discovery: GET /taxii20/ (API roots as absolute URLs)."""

    def get(self, request: Request) -> HttpResponse:
        roots = list(ApiRoot.objects.all())
        body: dict[str, Any] = {
            "title": "intelshare",
            "description": "TAXII 2.0 face of a hub for intelligence on misuse of large "
            "language models (STIX 2.1 served as STIX 2.0 where expressible)",
        }
        urls = {r.slug: request.build_absolute_uri(f"/taxii20/{r.slug}/") for r in roots}
        default = next((r for r in roots if r.is_default), None)
        if default is not None:
            body["default"] = urls[default.slug]
        if roots:
            body["api_roots"] = list(urls.values())
        return _json(body)


class ApiRoot20View(Taxii20Mixin, TaxiiView):
    """TAXII 2.0 §4.2 Get API Root Information."""

    def get(self, request: Request, root: str) -> HttpResponse:
        api_root = self.api_root(root)
        body: dict[str, Any] = {
            "title": api_root.title,
            "versions": ["taxii-2.0"],
            "max_content_length": api_root.max_content_length,
        }
        if api_root.description:
            body["description"] = api_root.description
        return _json(body)


def render_status(status: Status) -> dict[str, Any]:
    """The 2.0 status resource (§4.3.1): successes and pendings are lists of ids,
    failures of ``{id, message}``."""
    body = submissions.render(status)
    for name in ("successes", "pendings"):
        if name in body:
            body[name] = [detail["id"] for detail in body[name]]
    if "failures" in body:
        body["failures"] = [
            {"id": d["id"], "message": d.get("message", "")} for d in body["failures"]
        ]
    return body


class Status20View(Taxii20Mixin, TaxiiView):
    """TAXII 2.0 §4.3 Get Status: visible to the submitting partner and to staff."""

    def get(self, request: Request, root: str, status_id: str) -> HttpResponse:
        api_root = self.api_root(root)
        try:
            key = uuid.UUID(status_id)
        except ValueError:
            raise NotFound("no such status") from None
        status = Status.objects.filter(pk=key, collection__api_root=api_root).first()
        if status is None or not (
            self.caller.is_staff
            or (self.caller.partner_id is not None and status.partner_id == self.caller.partner_id)
        ):
            raise NotFound("no such status")
        return _json(render_status(status))


def _collection_resource(collection: Collection, access: policy.Access) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(collection.pk),
        "title": collection.title,
        "can_read": access.can_read,
        "can_write": access.can_write,
        "media_types": [STIX_20],
    }
    if collection.description:
        body["description"] = collection.description
    return body


class Collections20View(Taxii20Mixin, TaxiiView):
    """TAXII 2.0 §5.1 Get Collections: the same collections as the 2.1 face."""

    def get(self, request: Request, root: str) -> HttpResponse:
        api_root = self.api_root(root)
        found = policy.collections(self.caller, api_root, self.now)
        listed = [_collection_resource(c, a) for c, a in found]
        return _json({"collections": listed} if listed else {})


class Scoped20View(Taxii20Mixin, CollectionScopedView):
    """A 2.0 view under ``collections/{id}/``."""

    def selection(
        self, view: policy.View, query: filters.Query, stix_id: str | None = None
    ) -> pages.Selection:
        """The 2.1 face's selection without what STIX 2.0 cannot express by type, so
        Range positions count only items a 2.0 reader can receive."""
        chosen = pages.select(view, query, stix_id=stix_id)
        narrow = (
            chosen.narrow
            & ~Q(type__in=sorted(convert.TYPES_21_ONLY))
            & ~Q(stix_id__in=sorted(convert.TLP2_MARKING_IDS))
        )
        return pages.Selection(narrow, chosen.versions, chosen.exact)

    def converted(
        self, view: policy.View, page: ranges.Page
    ) -> tuple[list[tuple[policy.Row, dict[str, Any]]], convert.Tally]:
        """The page's rows ``(pk, date, raw, …)`` paired with their 2.0 objects; the
        audit event lists the versions served, not those skipped."""
        tally = convert.Tally()
        served = []
        for row, raw in zip(page.rows, view.render(page.rows, 2), strict=True):
            obj = convert.down(orjson.loads(raw), tally)
            if obj is not None:
                served.append((row, obj))
        self.audit_versions = [row.pk for row, _ in served]
        if tally.skipped or tally.dropped:
            logger.info(
                "TAXII 2.0 %s of collection %s: %d served, %d skipped, %d properties dropped (%s)",
                type(self).__name__,
                self.audit_collection.pk if self.audit_collection else "-",
                len(served),
                sum(tally.skipped.values()),
                sum(tally.dropped.values()),
                tally.summary(),
            )
        return served, tally

    def page(
        self,
        request: Request,
        view: policy.View,
        selection: pages.Selection,
        query: filters.Query,
        *extra: str,
    ) -> ranges.Page:
        span = ranges.parse(request.META.get("HTTP_RANGE"))
        return ranges.fetch(
            view,
            selection,
            query.added_after,
            span,
            ("raw", *view.redaction_fields, *extra),
            key=query.fingerprint,
        )

    def respond(
        self, body: bytes, page: ranges.Page, tally: convert.Tally, content_type: str
    ) -> HttpResponse:
        response = HttpResponse(body, status=page.status, content_type=content_type)
        for name, value in {**page.headers(stix.format_timestamp), **tally.headers()}.items():
            response[name] = value
        return response


class Collection20View(Scoped20View):
    """TAXII 2.0 §5.2 Get a Collection."""

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection, access = self.collection(root, ident)
        return _json(_collection_resource(collection, access))


def _bundle(objects: Sequence[dict[str, Any]]) -> bytes:
    """A STIX 2.0 bundle (STIX 2.0 Part 1 §5); ``objects`` omitted when empty."""
    body: dict[str, Any] = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "spec_version": "2.0",
    }
    if objects:
        body["objects"] = list(objects)
    return orjson.dumps(body)


class Objects20View(Scoped20View):
    """TAXII 2.0 §5.3 Get Objects (a STIX 2.0 bundle) and §5.4 Add Objects."""

    serves_stix = True

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Add Objects answers with a status resource (TAXII), Get Objects with a bundle.
        self.serves_stix = request.method != "POST"
        return super().perform_content_negotiation(request, force)

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection = self.readable(root, ident)
        query = self.query(request, OBJECTS_FILTERS, collection.pk)
        view = self.view(collection)
        page = self.page(request, view, self.selection(view, query), query)
        served, tally = self.converted(view, page)
        return self.respond(_bundle([obj for _, obj in served]), page, tally, STIX_20)

    def post(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection, access = self.collection(root, ident)
        if not access.can_write:
            raise Forbidden("you may not add objects to this collection")
        media.check_content_type(request.META.get("CONTENT_TYPE"))
        objects = [
            convert.up(obj) for obj in _read_bundle(request, collection.api_root.max_content_length)
        ]
        user = cast(User, request.user)  # authenticated: TaxiiView's permission
        status = submissions.submit(
            collection=collection, objects=objects, user=user, partner=user.partner
        )
        self.audit_collection, self.audit_count = collection, status.success_count
        self.audit_extra = {"status": str(status.pk)}
        return _json(render_status(status), status=202)


def _read_bundle(request: Request, max_length: int) -> list[Any]:
    """The objects of a POSTed STIX 2.0 bundle, or raise; nothing is stored yet."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > max_length:
        raise PayloadTooLarge(
            f"the body exceeds max_content_length ({max_length} octets)", error_code="too-large"
        )
    body = request._request.read(max_length + 1)
    objects = envelope.parse(body, max_length=max_length)  # I-JSON, bounded, non-empty
    # envelope.parse returns the objects only; a second (C) parse reads the bundle's type.
    if orjson.loads(body).get("type") != "bundle":
        raise Unprocessable(
            "the body must be a STIX 2.0 bundle (TAXII 2.0 §5.4)", error_code="not-a-bundle"
        )
    return objects


class Object20View(Scoped20View):
    """TAXII 2.0 §5.5 Get an Object: its versions as a STIX 2.0 bundle."""

    serves_stix = True

    def get(self, request: Request, root: str, ident: str, object_id: str) -> HttpResponse:
        collection = self.readable(root, ident)
        view = self.view(collection)
        object_id = self.object_id(object_id)
        if (
            object_id.partition("--")[0] in convert.TYPES_21_ONLY
            or object_id in convert.TLP2_MARKING_IDS
            or not view.exists(object_id)
        ):
            raise NotFound("no such object")
        query = self.query(request, OBJECT_FILTERS, collection.pk, object_id)
        page = self.page(request, view, self.selection(view, query, object_id), query)
        served, tally = self.converted(view, page)
        return self.respond(_bundle([obj for _, obj in served]), page, tally, STIX_20)


class Manifest20View(Scoped20View):
    """TAXII 2.0 §5.6 Get Object Manifests: one entry per object of the page, with
    the page's versions of it, for the objects Get Objects would serve."""

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection = self.readable(root, ident)
        query = self.query(request, OBJECTS_FILTERS, collection.pk)
        view = self.view(collection)
        page = self.page(request, view, self.selection(view, query), query, "version")
        served, tally = self.converted(view, page)
        entries: dict[str, dict[str, Any]] = {}
        for row, obj in served:
            entry = entries.setdefault(
                obj["id"],
                {
                    "id": obj["id"],
                    "date_added": stix.format_timestamp(row.added),
                    "versions": [],
                    "media_types": [STIX_20],
                },
            )
            entry["versions"].append(stix.format_version(row[-1]))
        body = {"objects": list(entries.values())} if entries else {}
        return self.respond(orjson.dumps(body), page, tally, TAXII_20)
