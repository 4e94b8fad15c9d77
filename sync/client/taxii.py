"""``TaxiiClient``: one partner collection read in pages (TAXII 2.1 and 2.0) and
written to (2.1), through taxii2client and this package's transport."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from taxii2client import v20, v21

from intelshare import stix
from intelshare.taxii20 import convert
from sync.client.adapter import connection, status_dict
from sync.client.errors import RemoteError, RemoteProtocolError, RemoteRejected, translate
from sync.client.results import (
    ApiRootInfo,
    Page,
    RemoteCollection,
    fingerprint,
    header_timestamp,
    later,
)
from sync.client.transport import (
    USER_AGENT,
    Auth,
    ClientAdapter,
    ClientCert,
    HeaderAuth,
    Session,
    Timeout,
    requests_auth,
)

logger = logging.getLogger(__name__)

TaxiiVersion = Literal["2.0", "2.1"]
ERROR_TEXT_MAX = 200
_ONE_MICROSECOND = timedelta(microseconds=1)
# match[version]=all on every page, next follow-ups included (a token keeps its query, §3.5).
_EVERY_VERSION: dict[str, Any] = {"version": "all"}


class TaxiiClient:
    """One partner collection: ``{api_root_url}collections/{collection_id}/``."""

    def __init__(
        self,
        api_root_url: str,
        collection_id: str,
        *,
        version: TaxiiVersion = "2.1",
        auth: Auth | None = None,
        timeout: Timeout | None = None,
        verify: bool | str = True,
        client_cert: ClientCert | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        parts = urlsplit(api_root_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) API root URL: {api_root_url!r}")
        if version not in ("2.0", "2.1"):
            raise ValueError(f"unsupported TAXII version {version!r}")
        self.api_root_url = api_root_url if api_root_url.endswith("/") else api_root_url + "/"
        self.collection_id = collection_id
        self.collection_url = f"{self.api_root_url}collections/{collection_id}/"
        self.version: TaxiiVersion = version
        self.timeout = timeout or Timeout.from_settings()

        strip = (auth.name,) if isinstance(auth, HeaderAuth) else ()
        self._session = Session(strip_on_redirect=strip)
        self._session.auth = requests_auth(auth)
        cert: str | tuple[str, str] | None = None
        if client_cert is not None:
            cert = client_cert.cert_file
            if client_cert.key_file:
                cert = (client_cert.cert_file, client_cert.key_file)
        adapter = ClientAdapter(self.timeout, verify, cert)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

        self._conn = connection(self._session, user_agent=user_agent, version=version)
        self._collection: v21.Collection | v20.Collection | None = None

    # -- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ------------------------------------------------------------

    def pages(self, added_after: datetime | None = None, limit: int = 100) -> Iterator[Page]:
        """Every object version added after ``added_after``, oldest first, page by page."""
        if limit <= 0:
            raise ValueError("limit must be a positive integer (TAXII 2.1 §3.4)")
        if added_after is not None and added_after.tzinfo is None:  # before any I/O
            raise ValueError("TAXII timestamps need an aware datetime")
        fetch = self._pages_v21 if self.version == "2.1" else self._pages_v20
        previous: Page | None = None
        for page in fetch(added_after, limit):
            self._check_progress(previous, page)
            yield page
            previous = page

    def _pages_v21(self, added_after: datetime | None, limit: int) -> Iterator[Page]:
        cursor, token = added_after, None
        # date_added_last of the last page yielded; whether this request re-reads before it.
        last: datetime | None = None
        overlapping = False
        while True:
            try:
                page = self._get_page_v21(cursor, limit, token)
            except RemoteRejected as exc:
                if exc.status_code != 400 or token is None or last is None:
                    raise
                # medallion forgets a next token 30 s after the query began: re-query.
                logger.warning(
                    "collection %s: next token refused (HTTP 400); re-querying from date_added %s",
                    self.collection_id,
                    stix.format_timestamp(last),
                )
                cursor, token, overlapping = last - _ONE_MICROSECOND, None, True
                continue
            if not page.objects:
                return
            if overlapping and last is not None and not later(page, last):
                raise RemoteProtocolError(
                    "no progress: more=true without a usable next, and the "
                    f"server cannot page past date_added {stix.format_timestamp(last)}",
                    url=self.collection_url,
                )
            yield page
            if not page.more:
                return
            last = page.date_added_last or last
            if page.next:
                token, overlapping = page.next, False
                continue
            if last is None:
                raise RemoteProtocolError(
                    "no progress: more=true without next or X-TAXII-Date-Added-Last",
                    url=self.collection_url,
                )
            logger.info(
                "collection %s: more without next; continuing from date_added_last",
                self.collection_id,
            )
            cursor, token, overlapping = last - _ONE_MICROSECOND, None, True

    def _get_page_v21(self, added_after: datetime | None, limit: int, token: str | None) -> Page:
        kwargs: dict[str, Any] = {"limit": limit, **_EVERY_VERSION}
        if added_after is not None:
            kwargs["added_after"] = stix.format_timestamp(added_after)
        if token is not None:
            kwargs["next"] = token
        with self._translate_errors():
            body = self._collection_endpoint().get_objects(**kwargs)
        response = self._session.last_response
        if not isinstance(body, dict):
            raise RemoteProtocolError("envelope is not a JSON object", url=self.collection_url)
        objects = self._objects_of(body)
        more = body.get("more", False)
        next_token = body.get("next")
        if not isinstance(more, bool) or not (next_token is None or isinstance(next_token, str)):
            raise RemoteProtocolError("envelope more/next malformed", url=self.collection_url)
        page = Page(
            objects=objects,
            more=more,
            next=next_token or None,
            date_added_first=header_timestamp(response, "X-TAXII-Date-Added-First"),
            date_added_last=header_timestamp(response, "X-TAXII-Date-Added-Last"),
        )
        logger.debug(
            "collection %s: page of %d objects, more=%s, next=%s",
            self.collection_id,
            len(objects),
            more,
            bool(page.next),
        )
        return page

    def _pages_v20(self, added_after: datetime | None, limit: int) -> Iterator[Page]:
        start = 0
        while True:
            page, end, total = self._get_page_v20(added_after, start, limit)
            if end is None and not page.objects:
                return
            if page.objects:
                yield page
            # The served range says where the next page starts (2.0 faces may skip items).
            start = end + 1 if end is not None else start + len(page.objects)
            if not page.more or (total is not None and start >= total):
                return

    def _get_page_v20(
        self, added_after: datetime | None, start: int, limit: int
    ) -> tuple[Page, int | None, int | None]:
        """One page, the last item of the range served (``None`` if not said) and the
        total (``None`` if unknown). STIX 2.0 objects come back as STIX 2.1
        (``convert.up``), so ingest judges them like any other."""
        kwargs: dict[str, Any] = {**_EVERY_VERSION}
        if added_after is not None:
            kwargs["added_after"] = stix.format_timestamp(added_after)
        with self._translate_errors():
            # With a Range header taxii2client returns the raw Response (2.0 only).
            response = self._collection_endpoint().get_objects(
                start=start, per_request=limit, **kwargs
            )
            body = response.json() if isinstance(response, requests.Response) else response
        if not isinstance(body, dict):
            raise RemoteProtocolError("bundle is not a JSON object", url=self.collection_url)
        objects = [convert.up(obj) for obj in self._objects_of(body)]
        last_response = self._session.last_response
        total: int | None = None
        end: int | None = None
        more = False
        content_range = last_response.headers.get("Content-Range") if last_response else None
        if content_range:
            match = re.match(r"^items\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$", content_range.strip())
            if match is None:
                raise RemoteProtocolError(
                    f"bad Content-Range {content_range!r}", url=self.collection_url
                )
            if match.group(2) is not None:
                end = int(match.group(2))
                if int(match.group(1)) != start or end < start:
                    raise RemoteProtocolError(
                        f"Content-Range {content_range!r} is not the range asked for",
                        url=self.collection_url,
                    )
            if match.group(3) != "*":
                total = int(match.group(3))
            served = end + 1 if end is not None else start + len(objects)
            more = served < total if total is not None else served > start
        page = Page(
            objects=objects,
            more=more,
            next=None,
            date_added_first=header_timestamp(last_response, "X-TAXII-Date-Added-First"),
            date_added_last=header_timestamp(last_response, "X-TAXII-Date-Added-Last"),
        )
        return page, end, total

    def _objects_of(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        objects = body.get("objects", [])
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise RemoteProtocolError("objects is not a list of objects", url=self.collection_url)
        return objects

    def _check_progress(self, previous: Page | None, page: Page) -> None:
        """The loop guard: a server must move forward through date_added (§3.3)."""
        if previous is None:
            return
        if fingerprint(previous) == fingerprint(page):
            raise RemoteProtocolError(
                "server returned the same page twice; stopping instead of looping",
                url=self.collection_url,
            )
        if (
            previous.date_added_last is not None
            and page.date_added_first is not None
            and page.date_added_first < previous.date_added_last
        ):
            raise RemoteProtocolError(
                "pages went back in date_added (§3.3 sorts ascending); stopping",
                url=self.collection_url,
            )

    def api_root_info(self) -> ApiRootInfo:
        """Get API Root Information (TAXII 2.1 §4.2)."""
        api_root_class = v21.ApiRoot if self.version == "2.1" else v20.ApiRoot
        root = api_root_class(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            root.refresh_information()
        return ApiRootInfo(
            title=root.title,
            description=root.description,
            versions=tuple(root.versions),
            max_content_length=int(root.max_content_length),
        )

    # -- the operator console's connection test ----------------------------------

    def collections(self) -> list[RemoteCollection]:
        """Get Collections (TAXII 2.1 §5.1) of the API root, for picking a remote
        collection; an API root without collections answers an empty list."""
        api_root_class = v21.ApiRoot if self.version == "2.1" else v20.ApiRoot
        root = api_root_class(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            root.refresh_collections()
            found = list(root.collections)
        return [
            RemoteCollection(
                id=c.id,
                title=c.title,
                alias=getattr(c, "alias", None),
                can_read=bool(c.can_read),
                can_write=bool(c.can_write),
            )
            for c in found
        ]

    # -- writing (TAXII 2.1 only) --------------------------------------------

    def add_objects(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        """Add Objects (TAXII 2.1 §5.5): POST the envelope, return the status (§4.3.1)."""
        collection = self._collection_endpoint()
        if not isinstance(collection, v21.Collection):
            raise NotImplementedError("pushing to TAXII 2.0 servers is not supported")
        with self._translate_errors():
            status = collection.add_objects(dict(envelope), wait_for_completion=False)
        return status_dict(status)

    def delete_object(self, stix_id: str, versions: Sequence[str]) -> None:
        """Delete an Object (TAXII 2.1 §5.7): the given versions of ``stix_id``."""
        collection = self._collection_endpoint()
        if not isinstance(collection, v21.Collection):
            raise NotImplementedError("deleting on TAXII 2.0 servers is not supported")
        with self._translate_errors():
            collection.delete_object(stix_id, version=",".join(versions))

    def get_status(self, status_id: str) -> dict[str, Any]:
        """Get Status (TAXII 2.1 §4.3)."""
        if self.version != "2.1":
            raise NotImplementedError("status is only read from TAXII 2.1 servers")
        root = v21.ApiRoot(self.api_root_url, conn=self._conn)
        with self._translate_errors():
            status = root.get_status(status_id)
        return status_dict(status)

    def wait_for_status(
        self, status_id: str, *, timeout: float = 60.0, poll_interval: float = 1.0
    ) -> dict[str, Any]:
        """Poll Get Status until ``complete`` or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(status_id)
            remaining = deadline - time.monotonic()
            if status.get("status") == "complete" or remaining <= 0:
                return status
            time.sleep(min(poll_interval, remaining))

    # -- internals ----------------------------------------------------------

    def _collection_endpoint(self) -> v21.Collection | v20.Collection:
        if self._collection is None:
            collection_class = v21.Collection if self.version == "2.1" else v20.Collection
            self._collection = collection_class(self.collection_url, conn=self._conn)
        return self._collection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Map requests/taxii2client exceptions raised inside onto RemoteError."""
        self._session.last_response = None
        try:
            yield
        except RemoteError:
            raise
        except Exception as exc:
            error = translate(exc, self._session.last_response, self.collection_url)
            if error is None:
                raise
            raise error from exc
