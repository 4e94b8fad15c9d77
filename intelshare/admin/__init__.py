"""Django admin for every intelshare model (one of the three doors, STYLE.md §1)."""

from intelshare.admin import accounts, records, sharing, users

__all__ = ["accounts", "records", "sharing", "users"]
