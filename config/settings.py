"""Callscope settings, read from the environment.

With nothing set, Callscope runs embedded: a SQLite file next to the code and Celery tasks run
in-process. Production differs only by environment variables:

- ``DEBUG``: ``1``/``true`` to enable (default off, or on for the embedded demo via ``make run``).
- ``SECRET_KEY``: required when ``DEBUG`` is off.
- ``DATABASE_URL``: e.g. ``postgres://user@host:5432/callscope``; default SQLite ``db.sqlite3``.
- ``REDIS_URL``: Celery broker/result backend and the cache; default in-process tasks and a
  local-memory cache.
- ``ALLOWED_HOSTS``: comma-separated; default ``127.0.0.1,localhost`` in DEBUG.
- ``MAX_REQUEST_BODY_BYTES``: largest accepted API request body (default 20 MiB).
- ``ANALYTICS_USE_ROLLUPS``: read clean days from rollups (default on).
- ``READ_API_RATE``: read requests allowed per tenant (default ``600/min``; ``off`` disables).
- ``CALL_COUNT_CACHE``: cache the exact totals of ``GET /v2/calls`` until the tenant's calls
  change (default on with ``REDIS_URL``, off without: it needs a cache shared by all processes).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "calls",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "calls.api.middleware.RequestIdMiddleware",
    "calls.api.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except Exception as exc:  # dj_database_url raises bare ValueErrors/KeyErrors
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL lets the dev server read while a command writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- API ------------------------------------------------------------------------------------

MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
MAX_CALLS_PER_BATCH = 1000

# Per-tenant budget of read requests (``<n>/<s|min|hour|day>``, or ``off``).
READ_API_RATE = os.environ.get("READ_API_RATE", "").strip() or "600/min"
if not re.fullmatch(r"off|\d+/(s|sec|m|min|h|hour|d|day)", READ_API_RATE):
    raise ImproperlyConfigured(
        f"READ_API_RATE must look like 600/min (or be 'off'), got {READ_API_RATE!r}"
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["calls.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["calls.api.authentication.HasTenantApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "calls.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["calls.api.throttling.TenantReadThrottle"],
    "DEFAULT_THROTTLE_RATES": {"read_api": None if READ_API_RATE == "off" else READ_API_RATE},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Callscope API",
    "DESCRIPTION": "Call log and call analytics for AI voice agents.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its UI are public (they hold no tenant data); every operation in them
    # still needs a key.
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "calls.enums.CallStatus",
        "LeadStatusEnum": "calls.enums.LeadStatus",
        "SentimentEnum": "calls.enums.Sentiment",
        "TurnRoleEnum": "calls.enums.TurnRole",
        "ProviderTypeEnum": "calls.enums.ProviderType",
        "ErrorServiceEnum": "calls.enums.ErrorService",
        "ErrorLevelEnum": "calls.enums.ErrorLevel",
    },
}

# --- Celery ---------------------------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = False
CELERY_TIMEZONE = "UTC"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The exact totals of ``GET /v2/calls`` are cached until the tenant's calls change
# (``calls.counts``). That needs a cache every process shares: on by default with Redis, off
# with the per-process local-memory cache of embedded mode, where it would serve one process's
# stale totals after another process's writes.
CALL_COUNT_CACHE = env_bool("CALL_COUNT_CACHE", bool(REDIS_URL))

# --- Domain ---------------------------------------------------------------------------------

# Analytics read clean rolled-up days from rollups; off computes everything from raw rows (the
# reference the rollups are checked against, and an operator's switch).
ANALYTICS_USE_ROLLUPS = env_bool("ANALYTICS_USE_ROLLUPS", True)

# Memory PostgreSQL may use per grouping step while rolling up a range of days (``work_mem`` for
# the roll's transaction only): enough to aggregate a busy month of calls in memory.
ROLLUP_WORK_MEM = os.environ.get("ROLLUP_WORK_MEM", "64MB")

# A call still "in progress" after this long is treated as stale, not active.
ACTIVE_CALL_STALE_AFTER_SECONDS = env_int("ACTIVE_CALL_STALE_AFTER_SECONDS", 2 * 60 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
