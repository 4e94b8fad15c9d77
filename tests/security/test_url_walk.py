"""Every URL pattern, walked as an outsider .

The patterns come from ``config.urls``, resolved recursively, so a route added
later is walked too. Path parameters get plausible values, real primary keys
where the view has a model, and each filled path must resolve back to its own
pattern. Callers: anonymous, a partner user with HTTP Basic, the same with its
bearer token, and the same with a session (the admin's own login). The
management API and the admin are never 2xx for them; TAXII needs
authentication (401 with ``WWW-Authenticate``); ``/healthz`` and ``/readyz``
are open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize

from intelshare.models import TAXII_21, Status
from sync import services as sync_services
from sync.models import Feed, Quarantine, SyncRun
from tests.factories import World, indicator

OPEN = {"healthz", "readyz"}
# The admin's own door: the login form is public by design, logout is harmless.
ADMIN_DOORS = {"login", "logout"}
API_METHODS = ("get", "post", "put", "patch", "delete")
# The management API's documentation pages, opened in a browser.
DOCS_PAGES = {"api:docs", "api:redoc"}
ADMIN_METHODS = ("get", "post")


def patterns(
    resolvers: list[Any] | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    """(regex without anchors, namespaced name, pattern) of every endpoint."""
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        regex = entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from patterns(entry.url_patterns, prefix + regex, inner)
        else:
            yield prefix + regex, f"{namespace}{entry.name or ''}", entry


def _model_of(func: Any) -> Any:
    admin = getattr(func, "model_admin", None)
    if admin is not None:
        return admin.model
    view_class = getattr(func, "cls", None) or getattr(func, "view_class", None)
    queryset = getattr(view_class, "queryset", None)
    return getattr(queryset, "model", None)


class Filler:
    """Plausible values for every path parameter, real keys where there are rows."""

    def __init__(self, world: World, stix_id: str, status_id: str) -> None:
        self.values = {
            "root": world.api_root.slug,
            "ident": str(world.collection.pk),
            "status_id": status_id,
            "format": "json",
            "app_label": "intelshare",
            "url": "no-such-page/",
            "partner_id": str(world.personas["acme"].user.partner_id),
            "stix_id": stix_id,
            "collection_id": str(world.collection.pk),
            "feed_id": "1",
            "token_id": "1",
            "recall_id": "1",
        }
        self.stix_id = stix_id

    def fill(self, regex: str, pattern: URLPattern) -> str | None:
        template, params = normalize("^" + regex)[0]
        values = dict(self.values)
        for name in ("object_id", "pk", "id"):
            values[name] = self.stix_id if regex.startswith("taxii2/") else "1"
        path = "/" + template % {name: values.get(name, "x") for name in params}
        try:
            match = resolve(path)
        except Resolver404:
            return None
        model = _model_of(match.func)
        row = model._default_manager.order_by("pk").first() if model is not None else None
        if row is not None and not regex.startswith("taxii2/"):
            for name in ("object_id", "pk", "id"):
                values[name] = str(row.pk)
            # A viewset looked up by another field (a partner's slug, say).
            view_class = getattr(match.func, "cls", None)
            field = getattr(view_class, "lookup_field", "pk")
            kwarg = getattr(view_class, "lookup_url_kwarg", None) or field
            if field != "pk" and kwarg in params:
                values[kwarg] = str(getattr(row, field))
            path = "/" + template % {name: values.get(name, "x") for name in params}
        try:
            match = resolve(path)
        except Resolver404:
            return None
        return path if match.func == pattern.callback else None


@pytest.fixture
def filled(world: World, taxii: Any) -> list[tuple[str, str]]:
    """(name, path) for every pattern, with rows behind every model the walk meets."""
    obj = indicator(1)
    response = taxii("staff").post(
        f"/taxii2/intel/collections/{world.collection.pk}/objects/",
        orjson.dumps({"objects": [obj]}),
    )
    status_id = orjson.loads(response.content)["id"]
    assert Status.objects.filter(pk=status_id).exists()
    feed = sync_services.feed_create(
        name="walk-feed",
        partner=world.personas["acme"].user.partner,
        direction=Feed.PULL,
        api_root_url="https://partner.invalid/api1/",
        remote_collection_id="c",
        auth_type=Feed.AUTH_BASIC,
        username="hub",
        secret="walk-secret",
        collection=world.collection,
    )
    run = SyncRun.objects.create(feed=feed, direction=Feed.PULL, started=feed.created)
    Quarantine.objects.create(feed=feed, run=run, raw="{}", digest="0" * 64, reason="test")
    filler = Filler(world, obj["id"], status_id)
    found, unfilled = [], []
    for regex, name, pattern in patterns():
        path = filler.fill(regex, pattern)
        if path is None:
            unfilled.append(regex)
        else:
            found.append((name, path))
    assert not unfilled, f"patterns the walk could not fill: {unfilled}"
    assert any(n.startswith("api:") for n, _ in found)
    assert any(n.startswith("admin:") for n, _ in found)
    assert any(n.startswith("taxii:") for n, _ in found)
    assert any(n.startswith("console:") for n, _ in found)
    return found


def _callers(world: World) -> dict[str, Client]:
    acme = world.personas["acme"]
    session = Client()
    session.force_login(acme.user)
    return {
        "anonymous": Client(),
        "partner-basic": Client(HTTP_AUTHORIZATION=acme.basic),
        "partner-bearer": Client(HTTP_AUTHORIZATION=acme.bearer),
        "partner-session": session,
    }


def _request(client: Client, method: str, path: str) -> Any:
    call = getattr(client, method)
    if method in ("post", "put", "patch"):
        return call(path, data=b"{}", content_type="application/json")
    return call(path)


def test_management_api_and_admin_refuse_partners_and_anonymous(
    world: World, filled: list[tuple[str, str]]
) -> None:
    seen: Counter[str] = Counter()
    wrong = []
    for caller, client in _callers(world).items():
        for name, path in filled:
            if name.startswith("api:"):
                methods = API_METHODS
            elif name.startswith("admin:"):
                if name.removeprefix("admin:") in ADMIN_DOORS:
                    continue
                methods = ADMIN_METHODS
            elif name.startswith("console:"):
                methods = ADMIN_METHODS
            else:
                continue
            for method in methods:
                response = _request(client, method, path)
                code = response.status_code
                seen[f"{name.split(':')[0]} {caller} {code}"] += 1
                if 200 <= code < 300 or code >= 500:
                    wrong.append((caller, method, path, code))
                elif code == 302 and not response["Location"].startswith("/admin/login/"):
                    wrong.append((caller, method, path, f"302 to {response['Location']}"))
                elif name in DOCS_PAGES and caller == "anonymous" and method == "get":
                    # A browser page: the login form, not a Basic password prompt.
                    if code != 302:
                        wrong.append((caller, method, path, code))
                elif name.startswith("api:") and method == "get":
                    # Anonymous is asked to authenticate; a known partner is refused.
                    expected = 401 if caller == "anonymous" else 403
                    if code != expected or (code == 401 and "WWW-Authenticate" not in response):
                        wrong.append((caller, method, path, code))
                elif name.startswith("admin:") and method == "get" and code not in (302, 404):
                    wrong.append((caller, method, path, code))
                elif name.startswith("console:") and code not in (302, 403, 405):
                    # Anonymous and Basic/bearer callers are sent to the login page; a
                    # partner's session is refused (the console is for hub staff).
                    wrong.append((caller, method, path, code))
    assert not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:10]}; all: {dict(seen)}"


def test_taxii_needs_authentication_everywhere(filled: list[tuple[str, str]]) -> None:
    client = Client(HTTP_ACCEPT=TAXII_21)
    wrong = []
    taxii = [(name, path) for name, path in filled if name.startswith("taxii:")]
    assert len(taxii) >= 9
    for _name, path in taxii:
        for method in ("get", "post", "delete"):
            response = _request(client, method, path)
            if response.status_code != 401 or "WWW-Authenticate" not in response:
                wrong.append((method, path, response.status_code))
            elif orjson.loads(response.content)["http_status"] != "401":
                wrong.append((method, path, "not a TAXII error message"))
    assert not wrong, wrong


def test_health_endpoints_are_open(filled: list[tuple[str, str]]) -> None:
    names = {name: path for name, path in filled}
    assert set(names) >= OPEN
    client = Client()
    assert client.get(names["healthz"]).status_code == 200
    ready = client.get(names["readyz"])
    assert ready.status_code in (200, 503)  # 503 = a dependency down, still no login
    assert orjson.loads(ready.content)["status"] in ("ok", "unavailable")


def test_metrics_with_a_token_refuse_everyone_else(world: World, settings: Any) -> None:
    settings.INTELSHARE_METRICS_TOKEN = "metrics-" + "x" * 32
    acme = world.personas["acme"]
    for header in (None, acme.basic, acme.bearer, "Bearer metrics-wrong"):
        client = Client(HTTP_AUTHORIZATION=header) if header else Client()
        assert client.get("/metrics").status_code == 401
    ok = Client(HTTP_AUTHORIZATION=f"Bearer {settings.INTELSHARE_METRICS_TOKEN}")
    assert ok.get("/metrics").status_code == 200


def test_a_partner_user_flagged_staff_is_still_not_hub_staff(world: World) -> None:
    """is_staff on a partner's user (only possible by bypassing the services) must not
    open the management API: the partner's people are never the hub's staff."""
    user = world.personas["acme"].user
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client(HTTP_AUTHORIZATION=world.personas["acme"].basic)
    assert client.get("/api/v1/partners/").status_code == 403


def test_a_partner_user_flagged_staff_gets_no_staff_view_in_taxii_or_admin(
    world: World, taxii: Any
) -> None:
    taxii("staff").post(
        f"/taxii2/intel/collections/{world.other.pk}/objects/",
        orjson.dumps({"objects": [indicator(7)]}),
    )
    user = world.personas["mallory"].user
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    # mallory has no agreement: the staff-only collection must stay invisible.
    response = taxii("mallory").get(f"/taxii2/intel/collections/{world.other.pk}/objects/")
    assert response.status_code == 404
    session = Client()
    session.force_login(user)
    assert session.get("/admin/").status_code == 302
