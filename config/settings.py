"""Settings for intelshare, all read from the environment (STYLE.md §6).

With nothing set the hub runs embedded: a SQLite file and Celery's filesystem
transport under ``var/``. ``DATABASE_URL=postgres://…`` and
``CELERY_BROKER_URL=redis://…`` switch to the production services; the code
is the same.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import embedded_secret_key, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("INTELSHARE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY", default="") or embedded_secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "intelshare",
    "sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "intelshare.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'intelshare.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write
    # lock at BEGIN, which serialises writers in commit order (DESIGN.md
    # "Storage": date_added increases in commit order).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-intelshare.sqlite3")}
elif "postgresql" in DATABASES["default"]["ENGINE"]:
    # Pages are short index scans; JIT compilation costs more than it saves
    # (measured: ~150 ms per policy page on PostgreSQL 15).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (verified Basic credentials, rate limits) -----------------------
CACHE_URL = env_str("CACHE_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Celery ------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Longer than the longest task's time limit, so an unacknowledged task is
    # redelivered only when its worker is really gone.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "intelshare.resume_pending_statuses": {
        "task": "intelshare.resume_pending_statuses",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "intelshare.purge_statuses": {
        "task": "intelshare.purge_statuses",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# --- sync ---
# Partner feeds (sync/). Credential keys: comma-separated Fernet keys, the first
# encrypts, all decrypt (rotation); unset = a key file under VAR_DIR (embedded).
INTELSHARE_SYNC_KEYS = [
    key.strip() for key in env_str("INTELSHARE_SYNC_KEYS", default="").split(",") if key.strip()
]
# A run holds its feed this long past its last committed page or envelope.
INTELSHARE_SYNC_LEASE_SECONDS = env_int("INTELSHARE_SYNC_LEASE_SECONDS", default=600)
# A run's budget; more pages wait for the next run, due at once. Below the
# tasks' soft time limit (3300 s) and the broker's visibility timeout.
INTELSHARE_SYNC_RUN_SECONDS = env_int("INTELSHARE_SYNC_RUN_SECONDS", default=3000)
INTELSHARE_SYNC_STATUS_TIMEOUT = env_int("INTELSHARE_SYNC_STATUS_TIMEOUT", default=120)
INTELSHARE_SYNC_CONNECT_TIMEOUT = env_int("INTELSHARE_SYNC_CONNECT_TIMEOUT", default=5)
INTELSHARE_SYNC_READ_TIMEOUT = env_int("INTELSHARE_SYNC_READ_TIMEOUT", default=60)
_sync_tick = env_int("INTELSHARE_SYNC_DISPATCH_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["sync.dispatch_due_feeds"] = {
    "task": "sync.dispatch_due_feeds",
    "schedule": float(_sync_tick),
    "options": {"expires": max(1, _sync_tick - 10)},
}
# --- end sync ---

# --- TAXII ------------------------------------------------------------------
TAXII_MAX_PAGE_SIZE = env_int("INTELSHARE_MAX_PAGE_SIZE", default=1000)
TAXII_DEFAULT_MAX_CONTENT_LENGTH = env_int(
    "INTELSHARE_MAX_CONTENT_LENGTH", default=20 * 1024 * 1024
)
# Envelopes with more objects than this are stored and answered 202 at once,
# then processed by a Celery task; smaller ones are processed inline.
TAXII_INLINE_MAX_OBJECTS = env_int("INTELSHARE_INLINE_MAX_OBJECTS", default=1000)
TAXII_STATUS_RETENTION_HOURS = env_int("INTELSHARE_STATUS_RETENTION_HOURS", default=48)
TAXII_NEXT_MAX_AGE = env_int("INTELSHARE_NEXT_MAX_AGE", default=86400)
TAXII_AUTH_CACHE_SECONDS = env_int("INTELSHARE_AUTH_CACHE_SECONDS", default=60)
# TAXII requests per minute per partner when its agreements set none (0 = no limit).
TAXII_RATE_LIMIT = env_int("INTELSHARE_RATE_LIMIT", default=0)
DATA_UPLOAD_MAX_MEMORY_SIZE = None  # bounded per API root by max_content_length

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "intelshare.taxii.auth.PartnerBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- security (see README "Production") --------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("INTELSHARE_BEHIND_TLS_PROXY", default=False)
    else None
)
# The embedded mode (SQLite) serves plain HTTP on loopback; production is
# behind TLS and gets secure cookies unless told otherwise.
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not EMBEDDED)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not EMBEDDED)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)

LOG_LEVEL = env_str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "text"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
