"""The Celery application; tasks are discovered in the installed apps."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("intelshare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _settle_heap(**_: object) -> None:
    """Each worker process freezes its loaded heap, as the web workers do (intelshare.db.heap)."""
    from intelshare.db import heap

    heap.settle()
