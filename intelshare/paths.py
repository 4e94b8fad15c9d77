"""Names read from requests (API root slugs, collection ids and aliases, object,
status and record ids): one holding a control character names nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping

# C0 controls, DEL, C1 controls and Unicode's line and paragraph separators: no slug,
# alias, UUID or STIX id holds one, and PostgreSQL text cannot hold NUL at all.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def nameable(kwargs: Mapping[str, object]) -> bool:
    """Whether every path segment a view received can name a stored row."""
    return all(is_name(value) for value in kwargs.values() if isinstance(value, str))


def is_name(text: str) -> bool:
    """Whether ``text`` (a slug or id from a request) can name a stored row."""
    return _CONTROL.search(text) is None
