"""The hub's TAXII client for partner servers: the only module importing taxii2client.

taxii2-client 2.3 speaks TAXII 2.0 and 2.1 but lacks what unattended sync needs
(STYLE.md §10). This wrapper adds:

- a (connect, read) timeout on every request, through an adapter on the session,
  and a whole-request deadline: requests' read timeout bounds each wait for a
  byte, so a partner trickling one byte a second would otherwise hold a run
  for as long as it likes; the adapter reads the whole body under a watchdog
  that shuts the socket when the deadline passes (``Timeout.total``);
- the ``X-TAXII-Date-Added-First/Last`` headers (TAXII 2.1 §3.2), which
  taxii2client drops because it returns bare dicts: a response hook keeps the
  last response of the session;
- one ``requests.Session`` for every request of a client, shared by the
  ``Collection``/``ApiRoot``/``Status`` objects built directly with ``conn=``
  (``Server`` would drop a passed connection and open its own);
- ``pages()``, which follows ``next`` and otherwise falls back to
  ``added_after`` from ``X-TAXII-Date-Added-Last`` (§3.5), with a loop guard.
  taxii2client's ``as_pages`` is not used: it sends ``next=""`` when the
  server gives none, which is dropped, so it re-requests the first page
  forever. Pages are fetched with ``Collection.get_objects`` and explicit
  ``limit``/``added_after``/``next`` kwargs, and ``version="all"``
  (``match[version]=all``) on every request: without it a server answers
  only the latest version of each object (TAXII 2.1 §3.4.1, 2.0 alike);
- auth (Basic, bearer, custom header), client certificates, ``verify`` on;
- a small error hierarchy: ``RemoteUnavailable`` (transient, retry),
  ``RemoteRejected`` (permanent 4xx), ``RemoteProtocolError`` (not TAXII).

A client is one feed run on one thread; it is not thread-safe.
"""

from sync.client.errors import (
    RemoteError,
    RemoteProtocolError,
    RemoteRejected,
    RemoteUnavailable,
    parse_retry_after,
)
from sync.client.results import ApiRootInfo, Page, RemoteCollection
from sync.client.taxii import TaxiiClient, TaxiiVersion
from sync.client.transport import (
    USER_AGENT,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCert,
    HeaderAuth,
    Timeout,
)

__all__ = [
    "USER_AGENT",
    "ApiRootInfo",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ClientCert",
    "HeaderAuth",
    "Page",
    "RemoteCollection",
    "RemoteError",
    "RemoteProtocolError",
    "RemoteRejected",
    "RemoteUnavailable",
    "TaxiiClient",
    "TaxiiVersion",
    "Timeout",
    "parse_retry_after",
]
