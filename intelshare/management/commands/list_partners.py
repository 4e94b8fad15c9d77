"""``manage.py list_partners``: partners with their users, agreements and grants."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count

from intelshare.management.commands._cli import table
from intelshare.models import Grant, Partner


class Command(BaseCommand):
    help = "List partners: slug, name, users, agreements and the collections granted."

    def handle(self, *args: Any, **options: Any) -> None:
        partners = Partner.objects.annotate(
            users_n=Count("users", distinct=True), agreements_n=Count("agreements", distinct=True)
        )
        grants: dict[int, list[str]] = {}
        for grant in Grant.objects.select_related("collection").order_by("collection__created"):
            rights = ("r" if grant.can_read else "") + ("w" if grant.can_write else "")
            grants.setdefault(grant.partner_id, []).append(f"{grant.collection}:{rights or '-'}")
        rows = [
            (p.slug, p.name, p.users_n, p.agreements_n, " ".join(grants.get(p.pk, [])) or "-")
            for p in partners
        ]
        if not rows:
            self.stdout.write("(no partners; add one with manage.py create_partner)")
            return
        table(self.stdout, ("SLUG", "NAME", "USERS", "AGREEMENTS", "GRANTS"), rows)
