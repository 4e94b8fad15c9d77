"""The hub's TAXII client for partner servers; the only package importing taxii2client.

On top of taxii2-client 2.3: (connect, read) timeouts and a whole-request deadline
(``transport``), the ``X-TAXII-Date-Added-*`` headers (§3.2) it drops, one session per
client, ``pages()`` that follows ``next`` or falls back to ``added_after`` with
``match[version]=all`` on every request (§3.4.1, §3.5; its ``as_pages`` loops on a
missing ``next``), auth and client certificates, and ``errors``' classification.
A client is one feed run on one thread.
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
