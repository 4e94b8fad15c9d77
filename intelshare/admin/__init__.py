"""Django admin for every intelshare model (one of the three doors, STYLE.md §1).

- ``accounts``: partners (agreements inline, grants, feeds, last pulls and the
  preview page), users (tokens inline) and API tokens (shown once on issue).
- ``sharing``: API roots, collections, agreements (grants inline, "revoke now")
  and grants; every agreement write goes through ``intelshare.services``.
- ``records``: object versions, references, reveals, audit events, statuses
  (read-only).
"""

from intelshare.admin import accounts, records, sharing

__all__ = ["accounts", "records", "sharing"]
