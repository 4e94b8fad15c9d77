from typing import Any

from django.apps import AppConfig
from django.contrib.admin import AdminSite
from django.contrib.admin import apps as admin_apps


class IntelshareConfig(AppConfig):
    name = "intelshare"
    verbose_name = "intelshare hub"

    def ready(self) -> None:
        from intelshare import ingest, observability  # noqa: F401 - metrics
        from intelshare.content.extension import validate_extensions
        from intelshare.db import lookups, tuning  # noqa: F401 - field__among

        tuning.install()
        # Objects using the llm-misuse extension are checked against its schema.
        ingest.register_check(validate_extensions)


class HubAdminSite(AdminSite):
    """The admin is for the hub's staff; partner users never enter, whatever flags.
    Defined outside intelshare.admin: importing that package registers its models
    on this site, so the site must exist first."""

    site_header = site_title = "intelshare"
    index_title = "Hub administration"
    site_url = "/"  # "View site": the console's dashboard

    def has_permission(self, request: Any) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.is_hub_staff)


class HubAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the hub's own site."""

    default = False  # "intelshare" stays IntelshareConfig
    default_site = "intelshare.apps.HubAdminSite"
