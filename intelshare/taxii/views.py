"""TAXII 2.1 endpoints (OASIS Standard §4 and §5)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from django import db
from django.db import DatabaseError, OperationalError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from intelshare import audit, paths, policy, stix, submissions
from intelshare.auth import BearerTokenAuthentication, PartnerBasicAuthentication
from intelshare.models import TAXII_21, ApiRoot, ApiToken, Collection, Status
from intelshare.taxii import envelope, filters, media, pages
from intelshare.taxii.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    as_taxii_error,
    render_error,
    taxii_response,
)
from intelshare.taxii.throttling import PartnerRateThrottle

logger = logging.getLogger(__name__)
F = filters
OBJECTS_FILTERS = frozenset(
    {F.ADDED_AFTER, F.LIMIT, F.NEXT, F.M_ID, F.M_TYPE, F.M_VERSION, F.M_SPEC}
)
OBJECT_FILTERS = frozenset({F.ADDED_AFTER, F.LIMIT, F.NEXT, F.M_VERSION, F.M_SPEC})
VERSIONS_FILTERS = frozenset({F.ADDED_AFTER, F.LIMIT, F.NEXT, F.M_SPEC})
DELETE_FILTERS = frozenset({F.M_VERSION, F.M_SPEC})


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return taxii_response(orjson.dumps(body), status=status)


class TaxiiView(APIView):
    """Base of every TAXII endpoint: auth, media types, the error envelope."""

    authentication_classes = [PartnerBasicAuthentication, BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [PartnerRateThrottle]
    accept_stix = False

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if not force:
            media.check_accept(request.META.get("HTTP_ACCEPT"), stix_allowed=self.accept_stix)
        return (None, TAXII_21)

    audit_collection: Collection | None = None
    audit_versions: list[int] | tuple[int, ...] = ()
    audit_count: int | None = None
    audit_extra: dict[str, str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Before any view looks a path segment up: no query ever carries one.
        if not paths.nameable(kwargs):
            raise NotFound("the requested resource does not exist")
        self.caller = policy.Caller.of(request.user)
        self.now = timezone.now()

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Writes (POST, DELETE) and their audit event commit together or not at all."""
        if request.method not in ("POST", "DELETE"):
            return super().dispatch(request, *args, **kwargs)
        try:
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)
        except DatabaseError as exc:  # the database failed at BEGIN or COMMIT
            return render_error(as_taxii_error(exc))

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Every TAXII request leaves an audit event (who, what, which versions)."""
        response = super().finalize_response(request, response, *args, **kwargs)
        try:
            self._audit(request, response, kwargs)
        except db.Error:
            logger.warning("audit event not written; answering 503")
            # Data served or stored without its audit record would be unaccounted
            # for: a read answers 503, a write is rolled back and answers 503.
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)
            return render_error(as_taxii_error(OperationalError("audit")))
        return response

    def _audit(self, request: Request, response: Any, kwargs: dict[str, Any]) -> None:
        user = getattr(request, "_user", None)
        audit.record(
            user=user if user is not None and user.is_authenticated else None,
            token=getattr(request, "_auth", None)
            if isinstance(getattr(request, "_auth", None), ApiToken)
            else None,
            method=request.method or "",
            endpoint=type(self).__name__.removesuffix("View"),
            collection=self.audit_collection,
            object_id=kwargs.get("object_id", ""),
            params={**request.GET.dict(), **(self.audit_extra or {})},
            status_code=response.status_code,
            versions=self.audit_versions,
            count=self.audit_count,
        )

    def handle_exception(self, exc: Exception) -> HttpResponse:
        error = as_taxii_error(exc)
        if isinstance(error, Unauthorized):
            error.headers["WWW-Authenticate"] = self.get_authenticate_header(self.request)
        return render_error(error)

    def api_root(self, slug: str) -> ApiRoot:
        root = ApiRoot.objects.filter(slug=slug).first()
        if root is None:
            raise NotFound(f"no API root {slug!r}")
        return root


class DiscoveryView(TaxiiView):
    """§4.1 Server Discovery: GET /taxii2/."""

    def get(self, request: Request) -> HttpResponse:
        roots = list(ApiRoot.objects.all())
        body: dict[str, Any] = {
            "title": "intelshare",
            "description": "TAXII 2.1 hub for intelligence on misuse of large language models",
        }
        default = next((r for r in roots if r.is_default), None)
        if default is not None:
            body["default"] = f"/taxii2/{default.slug}/"
        if roots:
            body["api_roots"] = [f"/taxii2/{r.slug}/" for r in roots]
        return _json(body)


class ApiRootView(TaxiiView):
    """§4.2 Get API Root Information."""

    def get(self, request: Request, root: str) -> HttpResponse:
        api_root = self.api_root(root)
        body: dict[str, Any] = {
            "title": api_root.title,
            "versions": api_root.versions,
            "max_content_length": api_root.max_content_length,
        }
        if api_root.description:
            body["description"] = api_root.description
        return _json(body)


class StatusView(TaxiiView):
    """§4.3 Get Status: visible to the submitting partner and to staff."""

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
        return _json(submissions.render(status))


def _collection_resource(collection: Collection, access: policy.Access) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(collection.pk),
        "title": collection.title,
        "can_read": access.can_read,
        "can_write": access.can_write,
        "media_types": collection.media_types,
    }
    if collection.description:
        body["description"] = collection.description
    if collection.alias:
        body["alias"] = collection.alias
    return body


class CollectionsView(TaxiiView):
    """§5.1 Get Collections: only those that exist for the caller, stable order."""

    def get(self, request: Request, root: str) -> HttpResponse:
        api_root = self.api_root(root)
        found = policy.collections(self.caller, api_root, self.now)
        listed = [_collection_resource(c, a) for c, a in found]
        return _json({"collections": listed} if listed else {})


class CollectionScopedView(TaxiiView):
    """A view under ``collections/{id}/``: resolves the collection through policy."""

    _view: policy.View  # opened with the collection's access rights

    def collection(self, root: str, ident: str) -> tuple[Collection, policy.Access]:
        # The collection and its API root in one query; the root alone is looked up
        # only to tell "no such API root" from "no such collection".
        collections = Collection.objects.select_related("api_root").filter(api_root__slug=root)
        try:
            found = collections.filter(pk=uuid.UUID(ident)).first()
        except ValueError:
            found = collections.filter(alias=ident).first()
        if found is None:
            self.api_root(root)
        if found is None:
            raise NotFound("no such collection")
        access, self._view = policy.opened(self.caller, found, self.now)
        if access is None:
            raise NotFound("no such collection")
        return found, access

    def readable(self, root: str, ident: str) -> Collection:
        collection, access = self.collection(root, ident)
        if not access.can_read:
            raise Forbidden("you may not read this collection")
        return collection

    def object_id(self, object_id: str) -> str:
        """A STIX identifier from the URL (§5.6); anything else names no object."""
        if not stix.IDENTIFIER.fullmatch(object_id):
            raise NotFound("no such object")
        return object_id

    def view(self, collection: Collection) -> policy.View:
        """The caller's view of ``collection``, opened with its access rights."""
        self.audit_collection = collection
        return self._view

    def served(self, page: pages.Page) -> dict[str, str]:
        """Note a page's versions for the audit event; returns its headers."""
        self.audit_versions = [row.pk for row in page.rows]
        return page.headers()

    def query(self, request: Request, allowed: frozenset[str], *scope: object) -> filters.Query:
        key = ":".join(str(part) for part in (type(self).__name__, self.caller.user_id, *scope))
        return filters.parse(request.query_params, allowed=allowed, scope=key)


class CollectionView(CollectionScopedView):
    """§5.2 Get a Collection."""

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection, access = self.collection(root, ident)
        return _json(_collection_resource(collection, access))


class ManifestView(CollectionScopedView):
    """§5.3 Get Object Manifests."""

    accept_stix = True  # the manifest's listed Accept includes the STIX type (§5.3)

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection = self.readable(root, ident)
        query = self.query(request, OBJECTS_FILTERS, collection.pk)
        view = self.view(collection)
        page = pages.fetch(view, pages.select(view, query), query, "stix_id", "version")
        return taxii_response(pages.manifest(page), headers=self.served(page))


class ObjectsView(CollectionScopedView):
    """§5.4 Get Objects and §5.5 Add Objects."""

    def get(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection = self.readable(root, ident)
        query = self.query(request, OBJECTS_FILTERS, collection.pk)
        view = self.view(collection)
        page = pages.fetch(view, pages.select(view, query), query, "raw", *view.redaction_fields)
        return taxii_response(pages.envelope(page), headers=self.served(page))

    def post(self, request: Request, root: str, ident: str) -> HttpResponse:
        collection, access = self.collection(root, ident)
        if not access.can_write:
            raise Forbidden("you may not add objects to this collection")
        media.check_content_type(request.META.get("CONTENT_TYPE"))
        objects = _read_envelope(request, collection.api_root.max_content_length)
        status = submissions.submit(
            collection=collection, objects=objects, user=request.user, partner=request.user.partner
        )
        self.audit_collection, self.audit_count = collection, status.success_count
        self.audit_extra = {"status": str(status.pk)}
        return _json(submissions.render(status), status=202)


def _read_envelope(request: Request, max_length: int) -> list[Any]:
    """Parse a POST body into its objects, or raise; nothing is stored yet."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > max_length:
        raise PayloadTooLarge(
            f"the body exceeds max_content_length ({max_length} octets)", error_code="too-large"
        )
    # Read from the stream (bounded by the declared length, at most max_length + 1),
    # not through HttpRequest.body, which applies DATA_UPLOAD_MAX_MEMORY_SIZE.
    return envelope.parse(request._request.read(max_length + 1), max_length=max_length)


class ObjectView(CollectionScopedView):
    """§5.6 Get an Object and §5.7 Delete an Object."""

    def get(self, request: Request, root: str, ident: str, object_id: str) -> HttpResponse:
        collection = self.readable(root, ident)
        view = self.view(collection)
        if not view.exists(self.object_id(object_id)):
            raise NotFound("no such object")
        query = self.query(request, OBJECT_FILTERS, collection.pk, object_id)
        page = pages.fetch(
            view, pages.select(view, query, stix_id=object_id), query, "raw", *view.redaction_fields
        )
        return taxii_response(pages.envelope(page), headers=self.served(page))

    def delete(self, request: Request, root: str, ident: str, object_id: str) -> HttpResponse:
        from intelshare import ingest

        collection, access = self.collection(root, ident)
        if not (access.can_read and access.can_write):
            raise Forbidden("deleting needs both read and write access (§5.7)")
        view = self.view(collection)
        if not view.exists(self.object_id(object_id)):
            raise NotFound("no such object")
        query = self.query(request, DELETE_FILTERS, collection.pk, object_id)
        doomed = pages.select(view, query, stix_id=object_id, default_versions=("all",))
        rows = view.window(
            doomed.narrow,
            added_after=None,
            after=None,
            limit=100_000,
            fields=(),
            versions=doomed.versions,
            exact=doomed.exact,
        )
        self.audit_versions = [row.pk for row in rows]
        ingest.delete(
            collection=collection,
            stix_id=object_id,
            version_pks=self.audit_versions,
            by=request.user if request.user.is_authenticated else None,
        )
        return taxii_response(b"", status=200)


class VersionsView(CollectionScopedView):
    """§5.8 Get Object Versions: every visible version, oldest added first."""

    def get(self, request: Request, root: str, ident: str, object_id: str) -> HttpResponse:
        collection = self.readable(root, ident)
        view = self.view(collection)
        if not view.exists(self.object_id(object_id)):
            raise NotFound("no such object")
        query = self.query(request, VERSIONS_FILTERS, collection.pk, object_id)
        selection = pages.select(view, query, stix_id=object_id, default_versions=("all",))
        page = pages.fetch(view, selection, query, "version")
        return taxii_response(pages.versions(page), headers=self.served(page))
