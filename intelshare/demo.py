"""Demo content for the embedded quick start: an API root, collections,
partners with fixed, printed loopback-only credentials."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from intelshare import services, stix
from intelshare.models import Agreement, ApiRoot, Collection, Partner, User


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    partner: str | None
    role: str


ACCOUNTS = (
    DemoAccount("admin", "admin-demo-pass", None, "hub staff (admin site, everything)"),
    DemoAccount("acme-analyst", "acme-demo-pass", "Acme Security", "read + write llm-misuse"),
    DemoAccount("globex-analyst", "globex-demo-pass", "Globex CERT", "read llm-misuse"),
)


@transaction.atomic
def setup() -> Collection:
    """Create (or reset) the demo world; returns the shared collection."""
    root, _ = ApiRoot.objects.update_or_create(
        slug="intel",
        defaults={
            "title": "LLM misuse intelligence",
            "is_default": True,
            "description": "Demo API root of the intelshare quick start",
        },
    )
    shared, _ = Collection.objects.get_or_create(
        api_root=root,
        alias="llm-misuse",
        defaults={
            "title": "LLM misuse (shared)",
            "description": "Starter pack: actors, LLM-themed TTPs, mitigations",
        },
    )
    Collection.objects.get_or_create(
        api_root=root,
        alias="hub-internal",
        defaults={"title": "Hub internal", "description": "Staff only"},
    )
    for account in ACCOUNTS:
        partner = None
        if account.partner:
            partner, _ = Partner.objects.get_or_create(
                name=account.partner, defaults={"slug": account.partner.lower().replace(" ", "-")}
            )
        user, _ = User.objects.get_or_create(username=account.username)
        user.partner = partner
        user.is_staff = user.is_superuser = partner is None
        user.set_password(account.password)
        user.save()
        if partner is not None:
            agreement = Agreement.objects.filter(
                partner=partner, name="Demo agreement"
            ).first() or services.agreement_create(
                partner=partner, name="Demo agreement", tlp_ceiling=stix.TLP_AMBER
            )
            services.grant_set(
                agreement=agreement, collection=shared, can_write="write" in account.role
            )
    return shared
