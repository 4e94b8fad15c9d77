"""Template filters of the console pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def lookup(mapping: dict[Any, Any], key: Any) -> Any:
    """``{{ names|lookup:stix_id }}``: a dict value by a variable key ("" if absent)."""
    return mapping.get(key, "") if isinstance(mapping, dict) else ""
