"""Encryption at rest of partner feed credentials (passwords, tokens, header keys)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import key_file

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "sync_keys"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts."""


def configured_keys() -> tuple[str, ...]:
    """The keys in force, first = the encrypting one."""
    keys = tuple(k.strip() for k in settings.INTELSHARE_SYNC_KEYS if k.strip())
    if keys:
        return keys
    if not settings.EMBEDDED:
        raise ImproperlyConfigured("INTELSHARE_SYNC_KEYS is not set")
    path = Path(settings.INTELSHARE_VAR_DIR) / KEY_FILE_NAME
    text = key_file(path, lambda: Fernet.generate_key().decode())
    keys = tuple(line.strip() for line in text.replace(",", "\n").splitlines() if line.strip())
    if not keys:
        raise ImproperlyConfigured(f"{path} holds no key")
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
            "stored credential cannot be decrypted with INTELSHARE_SYNC_KEYS"
        ) from None


def rotate_token(ciphertext: str) -> str:
    """The same secret re-encrypted with the first key (``MultiFernet.rotate``)."""
    if not ciphertext:
        return ""
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored credential cannot be decrypted with INTELSHARE_SYNC_KEYS"
        ) from None
