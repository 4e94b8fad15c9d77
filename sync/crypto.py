"""Encryption at rest of partner feed credentials: a MultiFernet over
``INTELSHARE_SYNC_KEYS``; the first key encrypts, every key decrypts (rotate with
``manage.py rotate_sync_keys``). Without the variable one key is generated into
``VAR_DIR/sync_keys`` (mode 0600), local to one machine (system check ``sync.W001``).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "sync_keys"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts."""


def _key_file(var_dir: Path) -> Path:
    path = var_dir / KEY_FILE_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path  # another process made it first
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
    return path


def configured_keys() -> tuple[str, ...]:
    """The keys in force, first = the encrypting one."""
    keys = tuple(k.strip() for k in getattr(settings, "INTELSHARE_SYNC_KEYS", ()) if k.strip())
    if keys:
        return keys
    text = _key_file(Path(settings.VAR_DIR)).read_text(encoding="utf-8")
    keys = tuple(line.strip() for line in text.replace(",", "\n").splitlines() if line.strip())
    if not keys:
        raise ImproperlyConfigured(f"{settings.VAR_DIR}/{KEY_FILE_NAME} holds no key")
    return keys


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "INTELSHARE_SYNC_KEYS must be Fernet keys (32 url-safe base64 bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(configured_keys())


def encrypt(plaintext: str) -> str:
    """Ciphertext (a Fernet token, ASCII) of ``plaintext``; "" stays ""."""
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """The plaintext of a token made by ``encrypt`` with any configured key."""
    if not ciphertext:
        return ""
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored credential cannot be decrypted with INTELSHARE_SYNC_KEYS") from None


def rotate_token(ciphertext: str) -> str:
    """The same secret re-encrypted with the first key (``MultiFernet.rotate``)."""
    if not ciphertext:
        return ""
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored credential cannot be decrypted with INTELSHARE_SYNC_KEYS") from None


@checks.register(checks.Tags.security, deploy=True)
def check_keys_from_environment(app_configs: Any = None,
                                **kwargs: Any) -> list[checks.CheckMessage]:
    """Outside the embedded mode the keys must come from the environment."""
    if getattr(settings, "INTELSHARE_SYNC_KEYS", ()) or getattr(settings, "EMBEDDED", True):
        return []
    return [checks.Warning(
        "INTELSHARE_SYNC_KEYS is not set: feed credentials are encrypted with a key "
        f"file in {settings.VAR_DIR}, which other machines (workers, web) do not share.",
        id="sync.W001")]
