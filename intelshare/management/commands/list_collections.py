"""``manage.py list_collections``: API roots and their collections."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from intelshare import policy, stix
from intelshare.management.commands._cli import table
from intelshare.models import Collection


class Command(BaseCommand):
    help = "List collections: API root, alias, id, title, default TLP, stored versions."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = []
        for c in Collection.objects.select_related("api_root").order_by(
            "api_root__slug", "created"
        ):
            stored = policy.catalogue(collection=c).count()
            rows.append(
                (
                    c.api_root.slug,
                    c.alias or "-",
                    c.pk,
                    c.title,
                    stix.TLP_NAMES[c.default_tlp],
                    stored,
                )
            )
        if not rows:
            self.stdout.write("(no collections; add one in the admin or POST /api/v1/collections/)")
            return
        table(self.stdout, ("API ROOT", "ALIAS", "ID", "TITLE", "DEFAULT TLP", "VERSIONS"), rows)
