"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium;
Playwright's own browser download is not used) against pytest-django's live server.

Every page is 1280 px wide; a route aborts (and records) any request that would
leave the loopback interface, so a CDN asset fails the test that loads it.
Screenshots go to ``var/screenshots/`` (README "Operator console").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

CHROMIUM = os.environ.get("INTELSHARE_CHROMIUM", "/usr/bin/chromium")
WIDTH = 1280
SCREENSHOTS = Path(settings.INTELSHARE_VAR_DIR) / "screenshots"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def _sync_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread, so Django would refuse
    the tests' own (plain, synchronous) ORM calls. Allowed while this module's browser
    runs only: set for the session, the variable would reach the subprocesses of later
    tests (``check --deploy`` reports it as an error)."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# pytest-playwright's Playwright and browser live for the session, so its event loop
# would stay up under every later test; here they live for one test module.
@pytest.fixture(scope="module")
def playwright(_sync_orm_beside_playwright: None) -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def browser(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    launched = browser_type.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-dev-shm-usage"],
    }


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": WIDTH, "height": 900}, "locale": "en-GB", "timezone_id": "UTC"}


@pytest.fixture
def outside() -> list[str]:
    """URLs of requests that tried to leave the hub."""
    return []


@pytest.fixture
def page(page: Any, outside: list[str]) -> Iterator[Any]:
    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", guard)
    page.set_default_timeout(15000)
    yield page
    assert not outside, f"requests left the hub: {outside}"


def shoot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, timeout=60000)
    return path
