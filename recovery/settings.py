"""Mobilize settings: one module, configured from the environment.

``MOBILIZE_ENV`` picks the defaults: ``production`` (the default) requires every secret and
service URL; ``demo`` runs on an embedded SQLite database and a file-system broker under ``var/``;
``test`` points at the local PostgreSQL and Redis used by ``make test``.
"""

from __future__ import annotations

import os
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from recovery.env import env_bool, env_int, env_list, env_str
from recovery.notifications.vapid import vapid_configure
from recovery.security.ratelimit import parse_rate

# Lets generic classes such as ``ModelAdmin[Episode]`` be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MOBILIZE_VAR_DIR", str(BASE_DIR / "var")))

MOBILIZE_ENV = env_str("MOBILIZE_ENV", "production")
if MOBILIZE_ENV not in {"production", "demo", "test"}:
    raise ImproperlyConfigured(
        f"The environment variable MOBILIZE_ENV must be production, demo or test, got {MOBILIZE_ENV!r}."
    )
IS_PRODUCTION = MOBILIZE_ENV == "production"
IS_DEMO = MOBILIZE_ENV == "demo"

_DEV_SECRET = "mobilize-insecure-development-key-never-use-in-production-" + MOBILIZE_ENV
SECRET_KEY = env_str("SECRET_KEY", None if IS_PRODUCTION else _DEV_SECRET)
if IS_PRODUCTION and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("The environment variable SECRET_KEY must be at least 32 characters long.")

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "api.errors.json_csrf_failure"
BASE_URL = env_str("MOBILIZE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
if urlparse(BASE_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured("The environment variable MOBILIZE_BASE_URL must be an http(s) URL.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "recovery.core",
    "recovery.accounts",
    "recovery.episodes",
    "recovery.checkins",
    "recovery.rehab",
    "recovery.proms",
    "recovery.protocols",
    "recovery.notifications",
    "recovery.reminders",
    "recovery.alerts",
    "recovery.trajectories",
    "recovery.security",
    "recovery.interop",
    "recovery.audit",
    "recovery.privacy",
    "recovery.outbox",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "recovery.security.middleware.SecurityHeadersMiddleware",
    "recovery.security.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: staff writes and their audit rows share one transaction around the view only.
    "recovery.audit.recording.AuditMiddleware",
]

ROOT_URLCONF = "recovery.urls"
WSGI_APPLICATION = "recovery.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "recovery" / "templates"],
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


def _database_config() -> dict[str, Any]:
    default_url = None
    if IS_DEMO:
        default_url = f"sqlite:///{VAR_DIR / 'mobilize.sqlite3'}"
    elif MOBILIZE_ENV == "test":
        default_url = "postgres://postgres@127.0.0.1:5432/mobilize"
    url = env_str("DATABASE_URL", default_url)
    scheme = urlparse(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"The environment variable DATABASE_URL must be a postgres:// or sqlite:// URL, got scheme {scheme!r}."
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60)))
    except ValueError as exc:
        raise ImproperlyConfigured(f"The environment variable DATABASE_URL is malformed: {exc}") from None
    if config["ENGINE"].endswith("sqlite3"):
        if not config.get("NAME"):
            raise ImproperlyConfigured("The environment variable DATABASE_URL names no SQLite file.")
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["CONN_MAX_AGE"] = 0
        # IMMEDIATE: a transaction takes the write lock when it begins and waits up to ``timeout`` for
        # it; a deferred one that later upgrades fails at once with "database is locked" when two
        # demo worker processes write together (as two reminder sends do).
        config["OPTIONS"] = {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
        if MOBILIZE_ENV == "test":
            config["TEST"] = {"NAME": "test_" + str(config["NAME"])}
    config["ATOMIC_REQUESTS"] = False
    return config


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0" if MOBILIZE_ENV == "test" else "") or None
if REDIS_URL is not None and urlparse(REDIS_URL).scheme not in {"redis", "rediss"}:
    raise ImproperlyConfigured("The environment variable REDIS_URL must be a redis:// or rediss:// URL.")
if REDIS_URL is None and IS_PRODUCTION:
    raise ImproperlyConfigured("The environment variable REDIS_URL is required but not set.")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that is down fails a cache call in about a second instead of hanging a request.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if MOBILIZE_ENV == "test":
    # Argon2 is deliberately slow; tests that exercise hashing still use it through
    # ``test_password_is_hashed_with_argon2`` by overriding this setting.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Invitations use Django's password-reset tokens: a set-password link stays valid for 7 days.
PASSWORD_RESET_TIMEOUT = env_int("INVITATION_TTL_SECONDS", 7 * 24 * 3600, minimum=3600)
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30, minimum=1)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if MOBILIZE_ENV == "test"
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The PWA (frontend/, built by `make install` into frontend/dist/): WhiteNoise serves the build at the
# site root, so the service worker (/sw.js) and the web manifest have the whole origin as their scope.
# Vite names every file under assets/ by its content hash, so those are cached for a year, immutable;
# index.html itself is served by recovery.urls.app_shell with no-cache.
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.is_dir() else None
# Replaces WhiteNoise's default test, so it also covers collectstatic's hashed names (name.<12 hex>.ext).
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/(?:assets/.+-[A-Za-z0-9_-]{8,}|static/.+\.[0-9a-f]{12})\.\w+$"

# Email: console in demo and test (locmem is forced by the test runner), SMTP in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true.")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Mobilize <no-reply@mobilize.example>")

# Web Push (RFC 8291/8292). With no VAPID key pair push is disabled and notifications go by email.
# Formats and checks: recovery/notifications/vapid.py; `manage.py vapid_keys` makes a pair.
_DEFAULT_VAPID_SUBJECT = "mailto:" + parseaddr(DEFAULT_FROM_EMAIL)[1]
VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT = vapid_configure(
    public_key=env_str("VAPID_PUBLIC_KEY", ""),
    private_key=env_str("VAPID_PRIVATE_KEY", ""),
    subject=env_str("VAPID_SUBJECT", _DEFAULT_VAPID_SUBJECT),
    subject_is_default=not os.environ.get("VAPID_SUBJECT"),
)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The container health check calls the app over plain HTTP from inside the container.
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

_RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    _RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.security_guards.TwoFactorEnrolled",
        # Last: starts the audit trail once the user is known to be staff (never refuses).
        "api.audit_trail.AuditTrail",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.security_guards.WriteRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": _RENDERERS,
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Mobilize API",
    "DESCRIPTION": (
        "Recovery tracking after minimally invasive spine surgery. Authenticate with "
        "`POST /api/v1/auth/token/` and send `Authorization: Bearer <token>`. Every error has the "
        'shape `{"errors": {"<field>": ["<message>"]}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ReminderKindEnum": "recovery.reminders.models.ReminderKind.choices",
        "ReminderStateEnum": "recovery.reminders.models.DeliveryState.choices",
        "ConsentKindEnum": "recovery.notifications.models.ConsentKind.choices",
        "ErasureStateEnum": "recovery.privacy.models.ErasureState.choices",
    },
}

# Celery: JSON only, late acknowledgement (every task is idempotent), bounded run time, UTC.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Short socket timeouts: with Redis down or unreachable a publish (the outbox's on-commit publish,
    # in a request) fails within seconds instead of hanging; the outbox relay publishes it later.
    # ``max_retries`` 0: a publisher that finds no connection fails after one attempt instead of
    # sleeping 2 s and trying again (the worker's own reconnection has its own settings).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 0,
    }
else:
    _broker = VAR_DIR / "broker"
    for _sub in ("in", "processed", "control"):
        (_broker / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "in"),
        "data_folder_out": str(_broker / "in"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

BENCH_ENABLED = env_bool("MOBILIZE_BENCH", False)

# Security defaults (chosen for this service, not evidence; README "Security"). Sign-in: 5 failures of
# one account (normalised email) in 15 minutes lock it for 15 minutes; 20 failures from one address in
# 15 minutes refuse that address for 15 minutes.
SECURITY_LOGIN_ACCOUNT_FAILURES = env_int("SECURITY_LOGIN_ACCOUNT_FAILURES", 5, minimum=1)
SECURITY_LOGIN_ADDRESS_FAILURES = env_int("SECURITY_LOGIN_ADDRESS_FAILURES", 20, minimum=1)
SECURITY_LOGIN_WINDOW_SECONDS = env_int("SECURITY_LOGIN_WINDOW_SECONDS", 900, minimum=1)
SECURITY_LOGIN_LOCKOUT_SECONDS = env_int("SECURITY_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# How many reverse proxies in front append to X-Forwarded-For (0: use REMOTE_ADDR as it is).
SECURITY_TRUSTED_PROXIES = env_int("SECURITY_TRUSTED_PROXIES", 0, minimum=0)
# Writes (POST, PUT, PATCH, DELETE) per signed-in user, or per address when anonymous. The check-in
# benchmark drives one token as fast as it can, so under MOBILIZE_BENCH the limit is still checked
# (its cost is measured) but set out of reach.
SECURITY_WRITE_RATE = env_str("SECURITY_WRITE_RATE", "1000000/second" if BENCH_ENABLED else "120/minute")
try:
    parse_rate(SECURITY_WRITE_RATE)
except ValueError as exc:
    raise ImproperlyConfigured(f"The environment variable SECURITY_WRITE_RATE is malformed: {exc}") from None
# Cross-origin API access: closed unless origins are listed (scheme://host[:port], comma-separated).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
for _origin in CORS_ALLOWED_ORIGINS:
    _parsed = urlparse(_origin)
    if _parsed.scheme not in {"http", "https"} or not _parsed.netloc or _parsed.path or _origin.endswith("/"):
        raise ImproperlyConfigured(
            f"The environment variable CORS_ALLOWED_ORIGINS must list origins like https://app.example, got {_origin!r}."
        )

os.environ.setdefault("MOBILIZE_ENV", MOBILIZE_ENV)

from recovery.schedules import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

# Tests and debug runs serve static files straight from the apps, without collectstatic.
WHITENOISE_AUTOREFRESH = DEBUG or MOBILIZE_ENV == "test"
