"""The deployment's own app: its system checks, and the embedded mode's directories."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class DeploymentConfig(AppConfig):
    name = "config"
    label = "deployment"
    verbose_name = "intelshare deployment"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - registers the checks

        for folder in local_folders():
            folder.mkdir(parents=True, exist_ok=True)


def local_folders() -> list[Path]:
    """Folders the configured local services write to: the SQLite file's, the
    filesystem broker's, and STATIC_ROOT (whitenoise warns when it is missing)."""
    folders = [Path(settings.STATIC_ROOT)]
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folders.append(Path(str(database["NAME"])).parent)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [
            Path(str(options[key]))
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
        ]
    return folders
