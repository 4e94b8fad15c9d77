"""What every console view shares: staff-only access and the page context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

View = Callable[..., HttpResponse]

# The console's tabs: (url name, label).
TABS = (
    ("console:dashboard", "Dashboard"),
    ("console:objects", "Objects"),
    ("console:matrix", "Sharing matrix"),
    ("console:onboard", "Onboard a partner"),
    ("console:feeds", "Feeds"),
    ("console:recalls", "Recalls"),
)


def staff_only(view: View) -> View:
    """Sign in first (the admin's login page); then hub staff only (403 page)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not request.user.is_hub_staff:  # type: ignore[union-attr]
            raise PermissionDenied("hub staff only")
        return view(request, *args, **kwargs)

    return wrapped


def page(
    request: HttpRequest, template: str, context: dict[str, Any], *, title: str, tab: str = ""
) -> TemplateResponse:
    """A console page inside the admin's frame (header, user links, dark mode)."""
    base = admin.site.each_context(request)
    base["is_nav_sidebar_enabled"] = False  # the console's pages need the width
    tabs = [(reverse(name), label, name == tab) for name, label in TABS]
    response = TemplateResponse(
        request, template, {**base, **context, "title": title, "console_tabs": tabs}
    )
    return response


# What each deciding rule means, for people (policy module docstring).
RULE_TEXT = {
    "shared": "shared",
    "own-contribution": "shared: the partner's own contribution",
    "tlp-marking-definition": "shared: TLP marking definitions go to every reader",
    "validity": "the agreement is not valid now",
    "grant": "no read grant on the collection",
    "tlp-ceiling": "TLP above the agreement's ceiling",
    "originator-control": "another partner's contribution it may not pass on",
    "sightings": "another partner's sighting, not routed to this partner",
    "types": "type not allowed by the agreement",
    "embargo": "still under embargo",
    "granular-markings": "a property is marked above the ceiling",
    "references": "refers to something the partner may not see",
}


def rule_text(rule: str) -> str:
    return RULE_TEXT.get(rule, rule.replace("_", " ").replace("-", " "))
