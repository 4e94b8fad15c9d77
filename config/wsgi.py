"""WSGI entry point (gunicorn config.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.checks import refuse_to_start  # noqa: E402 - needs the apps loaded above
from intelshare.db import heap  # noqa: E402

# gunicorn runs no system checks: a node without the shared keys fails to boot
# (gunicorn's master then stops) instead of serving with keys of its own.
refuse_to_start()
heap.settle()
