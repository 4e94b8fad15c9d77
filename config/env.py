"""Typed readers for environment variables (STYLE.md §6)."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import lazy

_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def env_str(name: str, *, default: str) -> str:
    """A string variable; ``NAME_FILE`` (a path) wins over ``NAME``."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw and raw not in _BOOLS:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean")
    return _BOOLS[raw] if raw else default


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_list(name: str, *, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def key_file(path: Path, make: Callable[[], str]) -> str:
    """The key kept in ``path`` (mode 0600), made by ``make`` if there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(make() + "\n")
            with contextlib.suppress(FileExistsError):
                path.hardlink_to(aside)
        finally:
            Path(aside).unlink()
    return path.read_text(encoding="utf-8").strip()


def embedded_secret_key(var_dir: Path) -> str:
    """The embedded mode's secret key, kept in ``var_dir/secret_key``: read or made
    when first used, not when the settings are imported."""

    @functools.cache
    def read() -> str:
        return key_file(var_dir / "secret_key", lambda: secrets.token_urlsafe(50))

    return lazy(read, str)()  # a str to every reader (HMAC keys, checks)
