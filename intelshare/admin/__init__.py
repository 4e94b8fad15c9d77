"""Django admin for every intelshare model (one of the three doors, STYLE.md §1).

- ``accounts``: partners (agreements inline, grants, feeds, last pulls and the
  preview page), users (tokens inline) and API tokens (shown once on issue).
- ``sharing``: API roots, collections, agreements (grants inline, "revoke now")
  and grants; every agreement write goes through ``intelshare.services``.
- ``records``: object versions, references, reveals, audit events, statuses
  (read-only).
"""

from typing import Any

from django.contrib import admin

from intelshare.admin import accounts, records, sharing


def _hub_staff_only(request: Any) -> bool:
    """The admin is for the hub's staff; partner users never enter, whatever flags."""
    user = request.user
    return bool(user.is_authenticated and user.is_hub_staff)


admin.site.has_permission = _hub_staff_only  # type: ignore[method-assign]
admin.site.site_header = "intelshare"
admin.site.site_title = "intelshare"
admin.site.index_title = "Hub administration"
admin.site.site_url = "/"  # "View site": the console's dashboard

__all__ = ["accounts", "records", "sharing"]
