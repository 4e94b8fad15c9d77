"""The WSGI entry point freezes the loaded heap (intelshare.db.heap): a fresh process
that imports it has a permanent generation holding Django and the views, so full
collections during requests skip them."""

import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import gc
before = gc.get_freeze_count()
import config.wsgi
import sys
assert "intelshare.taxii.views" in sys.modules, "views not loaded before the freeze"
print(before, gc.get_freeze_count())
"""


def test_wsgi_entry_point_freezes_the_loaded_application():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = map(int, result.stdout.split()[-2:])
    assert before == 0
    assert after > 10_000  # Django, DRF and intelshare's modules, not a handful
