"""``manage.py rotate_sync_keys``: re-encrypt feed credentials with the first key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sync import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored feed credential with the first key of "
        "INTELSHARE_SYNC_KEYS. Put the new key first, keep the old ones, run this, "
        "then remove the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = services.feed_secrets_rotate()
        self.stdout.write(f"re-encrypted {done} feed credential(s) with the first key")
