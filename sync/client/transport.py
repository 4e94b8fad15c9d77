"""The HTTP side of the client: timeouts and a whole-request deadline, auth,
client certificates and the session every request of a client goes through."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import requests.auth
import urllib3.connection
import urllib3.connectionpool

USER_AGENT = "intelshare-sync/0.1 taxii2-client/2.3"


@dataclass(frozen=True)
class Timeout:
    """Seconds to wait to connect, between bytes of a response (requests' rule),
    and for a whole request, from sending it to the last byte of its body
    (None: no overall bound)."""

    connect: float
    read: float
    total: float | None = None

    @classmethod
    def from_settings(cls) -> Timeout:
        """The hub's INTELSHARE_SYNC_CONNECT_TIMEOUT, _READ_TIMEOUT and _REQUEST_SECONDS."""
        from django.conf import settings

        return cls(
            connect=settings.INTELSHARE_SYNC_CONNECT_TIMEOUT,
            read=settings.INTELSHARE_SYNC_READ_TIMEOUT,
            total=settings.INTELSHARE_SYNC_REQUEST_SECONDS,
        )


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic (RFC 7617), which every TAXII 2.1 client must support (§8.5)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BearerAuth:
    """``Authorization: Bearer <token>``."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class HeaderAuth:
    """A custom header carrying a key, e.g. ``X-Api-Key``."""

    name: str
    value: str = field(repr=False)


Auth = BasicAuth | BearerAuth | HeaderAuth


@dataclass(frozen=True)
class ClientCert:
    """TLS client certificate (TAXII 2.1 §8.3.1); key inside ``cert_file`` if None."""

    cert_file: str
    key_file: str | None = None


class _Deadline:
    """A watchdog for the one request in flight on an adapter (a client is one run
    on one thread). ``start`` arms it; the connection that sends the request
    registers its socket; when the time is up the socket is shut down, so whatever
    read is blocked in it returns at once and the request fails."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        if self.seconds is None:
            return
        with self._lock:
            self.expired, self._sock = False, None
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._sock = None, None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is None:
            return
        # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would
        # drop its SSL object under the reading thread's feet. OSError: closed.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


def _watched(
    base: type[urllib3.connection.HTTPConnection], deadline: _Deadline
) -> type[urllib3.connection.HTTPConnection]:
    # A fresh connection connects inside request() (HTTP) or just before it (HTTPS,
    # to verify the peer); a kept-alive one arrives connected. Either way the
    # socket is registered before the request is sent.
    def connect(self: urllib3.connection.HTTPConnection) -> None:
        base.connect(self)
        deadline.attach(self.sock)

    def request(self: urllib3.connection.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        deadline.attach(self.sock)
        base.request(self, *args, **kwargs)

    return type(f"Watched{base.__name__}", (base,), {"connect": connect, "request": request})


class ClientAdapter(requests.adapters.HTTPAdapter):
    """Sends every request with the client's timeout, TLS verification and cert."""

    def __init__(
        self,
        timeout: Timeout,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ) -> None:
        self._deadline = _Deadline(timeout.total)  # before init_poolmanager runs
        super().__init__()
        self._timeout = (timeout.connect, timeout.read)
        self._verify = verify
        self._cert = cert

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools: dict[str, type[urllib3.connectionpool.HTTPConnectionPool]] = {}
        for scheme, pool in (
            ("http", urllib3.connectionpool.HTTPConnectionPool),
            ("https", urllib3.connectionpool.HTTPSConnectionPool),
        ):
            connection = _watched(pool.ConnectionCls, self._deadline)
            pools[scheme] = type(f"Watched{pool.__name__}", (pool,), {"ConnectionCls": connection})
        self.poolmanager.pool_classes_by_scheme = pools

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self._deadline.start()
        try:
            response = super().send(
                request,
                stream=True,
                timeout=self._timeout if timeout is None else timeout,
                verify=verify if self._verify is True else self._verify,
                cert=self._cert,
                proxies=proxies,
            )
            if not stream:
                response.content  # noqa: B018 - the whole body, under the deadline
        except Exception as exc:
            if self._deadline.expired:
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {self._deadline.seconds} s", request=request
                ) from exc
            raise
        finally:
            self._deadline.stop()
        return response


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _HeaderAuth(requests.auth.AuthBase):
    def __init__(self, name: str, value: str) -> None:
        self._name, self._value = name, value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._name] = self._value
        return request


class Session(requests.Session):
    """Remembers the last response and never forwards a custom key header to
    another host on redirect (requests strips only ``Authorization``)."""

    def __init__(self, strip_on_redirect: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.last_response: requests.Response | None = None
        self._strip_on_redirect = strip_on_redirect
        self.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)
        if self._strip_on_redirect and self.should_strip_auth(
            str(response.request.url), str(prepared_request.url)
        ):
            for name in self._strip_on_redirect:
                prepared_request.headers.pop(name, None)


def requests_auth(auth: Auth | None) -> requests.auth.AuthBase | None:
    if auth is None:
        return None
    if isinstance(auth, BasicAuth):
        return requests.auth.HTTPBasicAuth(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return _BearerAuth(auth.token)
    return _HeaderAuth(auth.name, auth.value)
