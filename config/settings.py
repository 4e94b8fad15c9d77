"""Settings for intelshare, all read from the environment (STYLE.md §6)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import embedded_secret_key, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
INTELSHARE_VAR_DIR = Path(env_str("INTELSHARE_VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env_bool("DEBUG", default=False)

INSTALLED_APPS = [
    # First: its checks refuse a start without the shared keys (config/checks.py).
    "config.apps.DeploymentConfig",
    "intelshare.apps.HubAdminConfig",  # django.contrib.admin with the hub's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "intelshare",
    "sync",
    "console",
]

MIDDLEWARE = [
    # First: the request id is on every log line, and every request is counted.
    "intelshare.observability.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app's own processes: no CDN, no separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
        env_str("DATABASE_URL", default=f"sqlite:///{INTELSHARE_VAR_DIR / 'intelshare.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL: readers beside the one writer; IMMEDIATE: writers serialised in commit order.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(INTELSHARE_VAR_DIR / "test-intelshare.sqlite3")}
elif "postgresql" in DATABASES["default"]["ENGINE"]:
    # Pages are short index scans; JIT compilation costs more than it saves
    # (measured: ~150 ms per policy page on PostgreSQL 15). The hub's working set
    # is cached (RAM, SSD), so a random page costs about a sequential one: at the
    # default 4.0 a partner page was a bitmap scan and sort of 8,851 rows (10.7 ms)
    # and its references a sequential scan (7.2 ms); at 1.1 both are index scans
    # in keyset order (1.2 ms, 0.5 ms).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off -c random_page_cost=1.1"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# One process on one machine, loopback only; anything else is a deployment.
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

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
    # The folders are made at app start (config/apps.py).
    _broker_dir = INTELSHARE_VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Longer than any task's time limit: redelivered only when its worker is gone.
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
CELERY_BEAT_SCHEDULE_FILENAME = str(INTELSHARE_VAR_DIR / "celerybeat-schedule")
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
# A run holds its feed this long past its last committed page or envelope.
INTELSHARE_SYNC_LEASE_SECONDS = env_int("INTELSHARE_SYNC_LEASE_SECONDS", default=600)
# A run's budget (below the tasks' soft limit and the broker's visibility timeout).
INTELSHARE_SYNC_RUN_SECONDS = env_int("INTELSHARE_SYNC_RUN_SECONDS", default=3000)
INTELSHARE_SYNC_STATUS_TIMEOUT = env_int("INTELSHARE_SYNC_STATUS_TIMEOUT", default=120)
INTELSHARE_SYNC_CONNECT_TIMEOUT = env_int("INTELSHARE_SYNC_CONNECT_TIMEOUT", default=5)
# The only source of the partner timeouts (sync.client.Timeout.from_settings).
INTELSHARE_SYNC_READ_TIMEOUT = env_int("INTELSHARE_SYNC_READ_TIMEOUT", default=60)
# Bounds a whole request, so a partner trickling bytes cannot hold a run.
INTELSHARE_SYNC_REQUEST_SECONDS = env_int("INTELSHARE_SYNC_REQUEST_SECONDS", default=300)
INTELSHARE_SYNC_DISPATCH_SECONDS = env_int("INTELSHARE_SYNC_DISPATCH_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["sync.dispatch_due_feeds"] = {
    "task": "sync.dispatch_due_feeds",
    "schedule": float(INTELSHARE_SYNC_DISPATCH_SECONDS),
    "options": {"expires": max(1, INTELSHARE_SYNC_DISPATCH_SECONDS - 10)},
}

# --- TAXII ------------------------------------------------------------------
# An API root's max_content_length is its own field (admin, management API).
INTELSHARE_MAX_PAGE_SIZE = env_int("INTELSHARE_MAX_PAGE_SIZE", default=1000)
# Larger envelopes are stored and answered 202 at once, then processed by a task.
INTELSHARE_INLINE_MAX_OBJECTS = env_int("INTELSHARE_INLINE_MAX_OBJECTS", default=1000)
INTELSHARE_STATUS_RETENTION_HOURS = env_int("INTELSHARE_STATUS_RETENTION_HOURS", default=48)
INTELSHARE_NEXT_MAX_AGE = env_int("INTELSHARE_NEXT_MAX_AGE", default=86400)
INTELSHARE_AUTH_CACHE_SECONDS = env_int("INTELSHARE_AUTH_CACHE_SECONDS", default=300)
# TAXII requests per minute per partner when its agreements set none (0 = no limit).
INTELSHARE_RATE_LIMIT = env_int("INTELSHARE_RATE_LIMIT", default=0)
# TAXII POST reads its body from the stream, bounded by max_content_length.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

REST_FRAMEWORK = {
    # The management API (intelshare/api); TAXII views set their own classes.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "intelshare.auth.PartnerBasicAuthentication",
        "intelshare.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["intelshare.api.permissions.IsHubStaff"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every list of the management API is paged; append-only logs use their own cursor.
    "DEFAULT_PAGINATION_CLASS": "intelshare.api.base.Pages",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "intelshare management API",
    "DESCRIPTION": "Administration of the intelshare TAXII 2.1 hub (hub staff only): "
    "partners, users, tokens, collections, agreements, feeds, audit, "
    "explain and preview. TAXII 2.1 itself is served under /taxii2/.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["intelshare.api.schema.management_api_only"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"TlpEnum": ["clear", "green", "amber", "amber+strict", "red"]},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = INTELSHARE_VAR_DIR / "static"

# --- observability (intelshare/observability.py) -------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env_str("LOG_FORMAT", default="text")  # text | json
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "intelshare.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"},
        "json": {"()": "intelshare.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
# Static files served without a collectstatic step (collected ones too).
WHITENOISE_USE_FINDERS = True

# --- security (README "Production"; proved by tests/security) ---------------------
# Every node shares SECRET_KEY and INTELSHARE_SYNC_KEYS, or refuses to start.
SECRET_KEY = env_str("SECRET_KEY", default="") or (
    embedded_secret_key(INTELSHARE_VAR_DIR) if EMBEDDED else ""
)
# Comma-separated Fernet keys, the first encrypts, all decrypt (rotation).
INTELSHARE_SYNC_KEYS = [
    key.strip() for key in env_str("INTELSHARE_SYNC_KEYS", default="").split(",") if key.strip()
]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
# /metrics answers only ``Authorization: Bearer <token>`` when set.
INTELSHARE_METRICS_TOKEN = env_str("INTELSHARE_METRICS_TOKEN", default="")
INTELSHARE_BEHIND_TLS_PROXY = env_bool("INTELSHARE_BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if INTELSHARE_BEHIND_TLS_PROXY else None
)
# Secure cookies unless embedded (plain HTTP on loopback).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not EMBEDDED)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not EMBEDDED)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# HSTS subdomains and preload are opt-in (check --deploy warns until set).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# Probes speak plain HTTP without X-Forwarded-Proto: no https redirect for them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
