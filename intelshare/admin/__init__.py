"""Django admin for every intelshare model (one of the three doors, STYLE.md §1).

- ``accounts``: partners (agreements inline, grants, feeds, last pulls and the
  preview page); ``users``: users (tokens inline) and API tokens (shown once).
- ``sharing``: API roots, collections, agreements (grants inline, "revoke now")
  and grants; every agreement write goes through ``intelshare.services``, from
  the forms of ``forms``.
- ``records``: object versions, references, reveals, audit events, statuses
  (read-only).
"""

from intelshare.admin import accounts, records, sharing, users

__all__ = ["accounts", "records", "sharing", "users"]
