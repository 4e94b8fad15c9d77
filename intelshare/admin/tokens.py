"""A token's plaintext shown once: kept in the session for the one page that shows it
(POST, redirect, GET), so a reload shows no secret and issues nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from intelshare.models import ApiToken

SESSION_KEY = "console.issued_token"


def remember_token(request: HttpRequest, token: ApiToken, plaintext: str) -> HttpResponse:
    """Keep the plaintext for the one GET that shows it, and redirect there."""
    request.session[SESSION_KEY] = {"pk": token.pk, "plaintext": plaintext}
    return redirect("console:token_issued", token_id=token.pk)
