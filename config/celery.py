"""The Celery application; tasks are discovered in the installed apps."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("intelshare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _settle_heap(**_: object) -> None:
    """Each worker process freezes its loaded heap, as the web workers do (intelshare.db.heap)."""
    from intelshare.db import heap

    heap.settle()


@worker_init.connect
@beat_init.connect
def _refuse_without_shared_keys(**_: object) -> None:
    """Celery runs no system checks: a worker or beat without the shared keys stops
    at start (exit 1) rather than fail on every feed credential."""
    from config.checks import exit_unless_configured

    exit_unless_configured()
