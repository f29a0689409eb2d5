"""Callscope settings, read from the environment.

With nothing set, Callscope runs embedded: a SQLite file next to the code and Celery tasks run
in-process. Production differs only by environment variables:

- ``DEBUG``: ``1``/``true`` to enable (default off, or on for the embedded demo via ``make run``).
- ``SECRET_KEY``: required when ``DEBUG`` is off.
- ``DATABASE_URL``: e.g. ``postgres://user@host:5432/callscope``; default SQLite ``db.sqlite3``.
- ``REDIS_URL``: Celery broker/result backend and the cache; default in-process tasks and a
  local-memory cache.
- ``REDIS_TIMEOUT_MS``: longest wait for a connection to or an answer from Redis, per call
  (default 250).
- ``ALLOWED_HOSTS``: comma-separated; default ``127.0.0.1,localhost`` in DEBUG.
- ``MAX_REQUEST_BODY_BYTES``: largest accepted API request body (default 20 MiB).
- ``ANALYTICS_USE_ROLLUPS``: read clean days from rollups (default on).
- ``ROLLUP_HOUR_HORIZON_DAYS``: how many recent days are also rolled up per UTC hour (default 62).
- ``READ_API_RATE``: read requests allowed per tenant (default ``6000/min``: a few hundred
  polling dashboards; ``off`` disables).
- ``API_READ_STATEMENT_TIMEOUT_MS``: longest SQL statement of an API read (default 5000; ``0``
  or ``off`` disables); past it the read is a 503 with ``Retry-After``.
- ``CALL_COUNT_CACHE``: cache the exact totals of ``GET /v2/calls`` until the tenant's calls
  change (default on with ``REDIS_URL``, off without: it needs a cache shared by all processes).
- ``READ_API_ETAGS``: ``ETag``/``304`` on the read APIs from the tenant's write generation
  (default on with ``REDIS_URL``, off without, for the same reason).
- ``SECURE_SSL_REDIRECT``, ``SESSION_COOKIE_SECURE``, ``CSRF_COOKIE_SECURE``,
  ``SECURE_HSTS_SECONDS``, ``SECURE_HSTS_INCLUDE_SUBDOMAINS``, ``SECURE_HSTS_PRELOAD``: HTTPS
  only (default on, HSTS one year, when DEBUG is off; off in DEBUG).
- ``SECURE_PROXY_SSL_HEADER``: trust ``X-Forwarded-Proto: https`` from the proxy (default on).
- ``LIVE_HEARTBEAT_SECONDS`` (default 25), ``LIVE_AUTH_RECHECK_SECONDS`` (default 30),
  ``LIVE_MAX_CONNECTIONS_PER_TENANT`` (default 100), ``LIVE_TICKET_TTL_SECONDS`` (default 30),
  ``LIVE_SUMMARY_MIN_INTERVAL_MS`` (default 1000): the WebSocket streams (``config.live``).
- ``ADMIN_LOGIN_FAILURE_LIMIT`` (default 5), ``ADMIN_LOGIN_COOLOFF_MINUTES`` (default 15): admin
  login lockout per username and IP address; ``ADMIN_LOGIN_PROXY_COUNT`` (default 0): reverse
  proxies in front that append the client's address to ``X-Forwarded-For``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import timedelta
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
    # First, so that ``manage.py runserver`` is daphne's: HTTP and the WebSocket streams on one
    # port (``config.asgi``).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "channels",
    "calls",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before (outside) everything that writes a response body: it compresses the final one.
    "config.api.middleware.ApiGZipMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.api.middleware.RequestIdMiddleware",
    "config.api.middleware.BodySizeLimitMiddleware",
    "config.api.middleware.ReadStatementTimeoutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# --- Security: HTTPS, cookies, Content-Security-Policy, admin login throttling ------------------

# With DEBUG off Callscope assumes it is served over HTTPS (usually behind a TLS-terminating
# proxy): plain-HTTP requests are redirected, browsers are told to stay on HTTPS (HSTS) and
# cookies are only sent over HTTPS. ``make run`` (DEBUG on, plain HTTP on 127.0.0.1) gets none of
# it. Each can be turned off on its own from the environment.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 60 * 60)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"SECURE_HSTS_SECONDS must be 0 or more, got {SECURE_HSTS_SECONDS}")
# The subdomains are those of Callscope's own host name. ``preload`` only allows the host to be
# submitted to the browsers' preload list; nothing is preloaded until someone does that.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# The proxy in front terminates TLS and forwards plain HTTP; without trusting its
# X-Forwarded-Proto every request would look like HTTP and the SSL redirect would loop. The proxy
# must set (not pass through) that header; turn this off when Django faces clients directly.
if env_bool("SECURE_PROXY_SSL_HEADER", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp), in debug too so a violation shows up while developing.
# Scripts only from this server's files: the admin, the dashboard and the API docs have no
# inline script. Inline styles stay allowed because the admin's and Swagger UI's templates carry
# style attributes and blocks (CSS cannot run code). Recordings are played from wherever the
# call's platform stores them, so media may come from any HTTPS host.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "media-src": ["'self'", "https:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Admin login throttling (django-axes, attempts stored in the database): after
# ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one username from one IP address, that username
# cannot log in from that address for ADMIN_LOGIN_COOLOFF_MINUTES (HTTP 429), even with the right
# password. Locking the username and address together means nobody can lock a colleague out
# from elsewhere by guessing at their username, while one address still gets only a handful of
# guesses per username per cool-off. A successful login clears the failures. API keys never go
# through Django's login, so the APIs are unaffected.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(
        f"ADMIN_LOGIN_FAILURE_LIMIT must be 1 or more, got {AXES_FAILURE_LIMIT}"
    )
ADMIN_LOGIN_COOLOFF_MINUTES = env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15)
if ADMIN_LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured(
        f"ADMIN_LOGIN_COOLOFF_MINUTES must be 1 or more, got {ADMIN_LOGIN_COOLOFF_MINUTES}"
    )
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
# Behind reverse proxies every login comes from the proxy's address, which would make the lock
# per username only (anyone could then lock an admin out). ADMIN_LOGIN_PROXY_COUNT says how many
# proxies append to X-Forwarded-For, so the client's address is read from it (``client_ip``).
# The default 0 uses the connection's address: trusting the header without a proxy that writes
# it would let a guesser pick a new address for every attempt.
ADMIN_LOGIN_PROXY_COUNT = env_int("ADMIN_LOGIN_PROXY_COUNT", 0)
if ADMIN_LOGIN_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        f"ADMIN_LOGIN_PROXY_COUNT must be 0 or more, got {ADMIN_LOGIN_PROXY_COUNT}"
    )
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"

# --- API ------------------------------------------------------------------------------------

MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
MAX_CALLS_PER_BATCH = 1000

# --- Platform webhooks ----------------------------------------------------------------------

# Fernet keys (url-safe base64 of 32 bytes) that encrypt the platform signing secrets at rest,
# comma-separated: the first encrypts, every one decrypts (so a new key can be put first while
# secrets written under the old one still read). Without any, a development key derived from
# SECRET_KEY is used in DEBUG only; elsewhere the first use of a platform connection fails with
# ImproperlyConfigured (``calls.encryption``): a derived key would tie the stored secrets to
# SECRET_KEY and its rotation.
CALLSCOPE_ENCRYPTION_KEYS = [
    key.strip() for key in os.environ.get("CALLSCOPE_ENCRYPTION_KEYS", "").split(",") if key.strip()
]
if not CALLSCOPE_ENCRYPTION_KEYS and DEBUG:
    CALLSCOPE_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(b"callscope.platform-secrets:" + SECRET_KEY.encode()).digest()
        ).decode()
    ]
# How long a rotated-out platform secret still verifies deliveries.
PLATFORM_SECRET_OVERLAP_HOURS = env_int("PLATFORM_SECRET_OVERLAP_HOURS", 24)
if PLATFORM_SECRET_OVERLAP_HOURS < 0:
    raise ImproperlyConfigured(
        f"PLATFORM_SECRET_OVERLAP_HOURS must be 0 or more, got {PLATFORM_SECRET_OVERLAP_HOURS}"
    )
# Largest platform webhook body taken (an end-of-call report with a long transcript is a few
# hundred KB); larger ones get 413 before anything is verified or parsed.
PLATFORM_WEBHOOK_MAX_BYTES = env_int("PLATFORM_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024)
if PLATFORM_WEBHOOK_MAX_BYTES < 1:
    raise ImproperlyConfigured(
        f"PLATFORM_WEBHOOK_MAX_BYTES must be positive, got {PLATFORM_WEBHOOK_MAX_BYTES}"
    )

# Per-tenant budget of read requests (``<n>/<s|min|hour|day>``, or ``off``).
#
# Sized for a few hundred dashboards per tenant polling at the refresh rates the API recommends
# (each endpoint's ``Cache-Control: max-age``, ``cache_max_age`` of its view). A voice-platform
# dashboard polls active-calls every 10 s (6 reads/min), summary and errors every 30 s (2 + 2)
# and call-volume, workflow-stats and provider-latency every 60 s (1 + 1 + 1): 13 reads/min.
# With a call list beside it (every 10 s, 6 more) it is 19. 6,000/min is 300 such dashboards
# (5,700/min) with room to spare, or 460 voice-platform dashboards alone; the former default of
# 600/min ran out at 46. A ``304 Not Modified`` costs nothing here (it is not counted), so these
# are the worst case: every poll finding a changed answer.
READ_API_RATE_DEFAULT = "6000/min"
READ_API_RATE = os.environ.get("READ_API_RATE", "").strip() or READ_API_RATE_DEFAULT
if not re.fullmatch(r"off|[0-9]+/(s|sec|m|min|h|hour|d|day)", READ_API_RATE):
    raise ImproperlyConfigured(
        f"READ_API_RATE must look like 6000/min (or be 'off'), got {READ_API_RATE!r}"
    )

# Longest one SQL statement of a REST API read (GET/HEAD under /api/ and /v2/) may run, in
# milliseconds: past it the read answers 503 with Retry-After instead of holding a worker and a
# database backend. ``0`` or ``off`` disables (``config.api.middleware``).
_read_timeout = os.environ.get("API_READ_STATEMENT_TIMEOUT_MS", "").strip().lower()
API_READ_STATEMENT_TIMEOUT_MS = (
    0 if _read_timeout == "off" else env_int("API_READ_STATEMENT_TIMEOUT_MS", 5000)
)
if API_READ_STATEMENT_TIMEOUT_MS < 0:
    raise ImproperlyConfigured(
        "API_READ_STATEMENT_TIMEOUT_MS must be milliseconds (0 or 'off' disables), "
        f"got {API_READ_STATEMENT_TIMEOUT_MS}"
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["config.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.authentication.HasTenantApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON without non-finite numbers, lone surrogates or deep nesting (a 400, never a 500).
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.JSONBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.TenantReadThrottle"],
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
    # Swagger UI and ReDoc are served from this server's static files, which the
    # Content-Security-Policy allows (no CDN, no inline script).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge image fetched from the public validator service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.postprocess_schema",
        "analytics.api.shapes.add_components",
    ],
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

# --- Redis timeouts -------------------------------------------------------------------------

# The longest any one call to Redis may wait for a connection or an answer: the cache (read
# throttle, cached call totals) and the Celery broker and result backend. A Redis that accepts
# connections but never answers would otherwise hold every call for redis-py's default 5 s (the
# broker's: forever); with this bound each use gives up quickly and degrades exactly as when
# Redis is down (a read is let through unthrottled, a total is counted, a publish fails).
REDIS_TIMEOUT_MS = env_int("REDIS_TIMEOUT_MS", 250)
if REDIS_TIMEOUT_MS < 1:
    raise ImproperlyConfigured(
        f"REDIS_TIMEOUT_MS must be a positive number of milliseconds, got {REDIS_TIMEOUT_MS}"
    )
REDIS_TIMEOUT_SECONDS = REDIS_TIMEOUT_MS / 1000
# redis-py connection options of every Redis client Callscope configures.
REDIS_CLIENT_OPTIONS = {
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {**REDIS_CLIENT_OPTIONS}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT_SECONDS
# A publish to an unresponsive broker is retried once, at once, instead of Celery's default of
# three retries with pauses: enqueueing (beat, ``roll_dirty_days``) fails within a few timeouts.
# Nothing is lost: dirty days stay marked in the database and the next beat enqueues them.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0,
    "interval_max": 0,
}
# Nobody reads a task's result (beat and ``roll_dirty_days`` fire and forget). Storing none
# also keeps publishing off the result backend: a publish that keeps its result first subscribes
# to it there, and retries that subscription for about 25 s when Redis does not answer.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
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
            "OPTIONS": {**REDIS_CLIENT_OPTIONS},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The exact totals of ``GET /v2/calls`` are cached until the tenant's calls change
# (``calls.counts``). That needs a cache every process shares: on by default with Redis, off
# with the per-process local-memory cache of embedded mode, where it would serve one process's
# stale totals after another process's writes.
CALL_COUNT_CACHE = env_bool("CALL_COUNT_CACHE", bool(REDIS_URL))

# Read answers carry an ``ETag`` derived from the same per-tenant write generation, and a
# request naming a current one is answered ``304`` without computing the answer
# (``config.api.conditional``). Needs the shared cache for the same reason; without it every
# read is computed and sent whole (no ``ETag``, so no ``304``).
READ_API_ETAGS = env_bool("READ_API_ETAGS", bool(REDIS_URL))

# --- Live streams (WebSockets, ``config.live``) ------------------------------------------------

# The channel layer carries published events from the processes that write (gunicorn, Celery,
# ``import_calls``) to the daphne processes holding the WebSocket connections: Redis when there
# is one; otherwise the in-memory layer, which reaches only connections of the same process (the
# embedded ``make run`` serves HTTP and WebSockets from one process, so its writes reach them).
# How long a read of the channel layer may wait on Redis: longer than its blocking pop (5 s), so
# only a Redis that stopped answering times it out.
CHANNEL_LAYER_READ_TIMEOUT_SECONDS = 15
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A subscriber's read blocks on Redis by design (BZPOPMIN, up to 5 s with
                # channels-redis), so reads may take longer than that: redis-py 8 times reads
                # out after 5 s by default, which closed every stream idle for 5 s with 1011.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                        "socket_timeout": CHANNEL_LAYER_READ_TIMEOUT_SECONDS,
                    }
                ],
                "prefix": "callscope:live",
                # A subscriber that stops reading loses messages after this many, instead of
                # growing Redis without bound.
                "capacity": 500,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def _positive(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be 1 or more, got {value}")
    return value


# Every stream sends a heartbeat message at least this often (seconds). At most 30: clients are
# promised one every 30 s, and each heartbeat also renews the connection's count
# (``config.live.limits``).
LIVE_HEARTBEAT_SECONDS = _positive("LIVE_HEARTBEAT_SECONDS", 25)
if LIVE_HEARTBEAT_SECONDS > 30:
    raise ImproperlyConfigured(
        f"LIVE_HEARTBEAT_SECONDS must be at most 30, got {LIVE_HEARTBEAT_SECONDS}"
    )
# How often an open connection checks that its API key (or admin user) still has access; a key
# revoked while connected is disconnected within this many seconds.
LIVE_AUTH_RECHECK_SECONDS = _positive("LIVE_AUTH_RECHECK_SECONDS", 30)
# Open WebSocket connections per tenant, over all daphne processes; one more is closed with 4429.
LIVE_MAX_CONNECTIONS_PER_TENANT = _positive("LIVE_MAX_CONNECTIONS_PER_TENANT", 100)
# How long a browser's single-use connection ticket stays valid (seconds).
LIVE_TICKET_TTL_SECONDS = _positive("LIVE_TICKET_TTL_SECONDS", 30)
# The live summary is sent at most once per this many milliseconds per connection, however fast
# calls arrive (its answer is computed once per tenant, period and zone for all of them).
LIVE_SUMMARY_MIN_INTERVAL_MS = _positive("LIVE_SUMMARY_MIN_INTERVAL_MS", 1000)

# --- Domain ---------------------------------------------------------------------------------

# Analytics read clean rolled-up days from rollups; off computes everything from raw rows (the
# reference the rollups are checked against, and an operator's switch).
ANALYTICS_USE_ROLLUPS = env_bool("ANALYTICS_USE_ROLLUPS", True)

# Memory PostgreSQL may use per grouping step while rolling up a range of days (``work_mem`` for
# the roll's transaction only): enough to aggregate a busy month of calls in memory.
ROLLUP_WORK_MEM = os.environ.get("ROLLUP_WORK_MEM", "64MB")

# Recent days also rolled up per UTC hour, so a window ending now reads raw rows only for the
# partial hours at its edges; older hour rows are pruned (days, weeks and months serve long
# windows). 62 days hold the longest polled period (30 days) and the period before it, which
# the Synthflow export and the overview compare against: at 35 days the previous window's
# partial first day was read from raw rows, 22 ms of a 30-day export at 10,000,000 calls.
ROLLUP_HOUR_HORIZON_DAYS = env_int("ROLLUP_HOUR_HORIZON_DAYS", 62)

# A call still "in progress" after this long is treated as stale, not active.
ACTIVE_CALL_STALE_AFTER_SECONDS = env_int("ACTIVE_CALL_STALE_AFTER_SECONDS", 2 * 60 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The Synthflow webhook URL carries a secret token: the loggers that print request paths
    # print "<token>" instead.
    # Request bodies (phone numbers, transcripts) never reach a log line either: exception
    # messages, which can quote them, are withheld (``config.log_redaction``).
    "filters": {
        "webhook_tokens": {"()": "calls.webhooks.RedactWebhookTokens"},
        "request_data": {"()": "config.log_redaction.RedactRequestData"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_data"],
        },
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes announces its configuration at every start, manage.py commands included.
        "axes": {"level": "WARNING"},
        # On the logger, not only the handler: Django's own handlers of "django" (the admin
        # error email, the debug console) see the record after this logger's filters.
        "django.request": {"filters": ["webhook_tokens", "request_data"]},
        "callscope.request": {"filters": ["webhook_tokens"]},
        # Configuring a logger drops its handlers: Django's own for the development server's
        # request lines is declared again.
        "django.server": {
            "handlers": ["django.server"],
            "filters": ["webhook_tokens"],
            "level": "INFO",
            "propagate": False,
        },
    },
}
