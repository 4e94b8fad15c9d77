"""The test run's settings: config.settings, with the keys a deployment must share.

Outside the embedded mode (tests on PostgreSQL) SECRET_KEY and INTELSHARE_SYNC_KEYS
are required (config/checks.py). The run makes its own unless they are set, in the
environment, so the workers and servers the tests start inherit the same keys.
"""

import os
import secrets

from cryptography.fernet import Fernet

if not os.environ.get("DATABASE_URL", "sqlite:").startswith("sqlite:"):
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("INTELSHARE_SYNC_KEYS", Fernet.generate_key().decode())

from config.settings import *  # noqa: F403
