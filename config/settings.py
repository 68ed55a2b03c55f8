"""ModelGate settings: everything comes from the environment; production differs only by it."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MODELGATE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment, or set DJANGO_DEBUG=true "
            "for a development instance with an insecure default."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "audit",
    "registry",
    "governance",
    "web",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.middleware.UploadSizeLimitMiddleware",
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
                "web.context.navigation",
            ],
        },
    },
]

# Default: an SQLite file under var/. SQLite takes its write lock at BEGIN (IMMEDIATE) so that
# read-then-append sequences such as the audit chain cannot interleave.
_default_db = f"sqlite:///{VAR_DIR / 'modelgate.sqlite3'}"
# Persistent connections: opening one per request costs more than most API calls themselves.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL or SQLite.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The reviewer pages' own files (CSS, the vendored htmx); no front-end build step.
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {
        "BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/review/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Uploads larger than this are streamed to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- ModelGate ---------------------------------------------------------------------------------
MODELGATE_MAX_ARTIFACT_BYTES = env_int("MODELGATE_MAX_ARTIFACT_BYTES", 512 * 1024 * 1024)
MODELGATE_MAX_DATASET_BYTES = env_int("MODELGATE_MAX_DATASET_BYTES", 1024 * 1024 * 1024)
# skops archives: bounds checked on the zip directory before anything is unpacked.
MODELGATE_SKOPS_MAX_UNCOMPRESSED_BYTES = env_int(
    "MODELGATE_SKOPS_MAX_UNCOMPRESSED_BYTES", 2 * 1024 * 1024 * 1024
)
MODELGATE_SKOPS_MAX_MEMBERS = env_int("MODELGATE_SKOPS_MAX_MEMBERS", 10_000)
# Extra types trusted when loading skops files, on top of skops' own defaults. Fixed by the
# deployment: an upload can never widen it.
MODELGATE_SKOPS_TRUSTED_TYPES = env_list("MODELGATE_SKOPS_TRUSTED_TYPES", [])
# Pickle and joblib run arbitrary code when loaded; refused unless the deployment opts in.
MODELGATE_ALLOW_PICKLE = env_bool("MODELGATE_ALLOW_PICKLE", False)

# Keep an incoming X-Request-ID (set by a trusted reverse proxy) instead of making a new one.
MODELGATE_TRUST_REQUEST_ID_HEADER = env_bool("MODELGATE_TRUST_REQUEST_ID_HEADER", False)

# --- Assessment jobs ---------------------------------------------------------------------------
# With a broker, jobs go to Celery workers (`celery -A config worker`, on any number of machines);
# without one they run in a background thread of the process that queued them ("thread"), or,
# for the test suite and scripts, synchronously when the request commits ("inline").
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
MODELGATE_JOBS = env_str("MODELGATE_JOBS", "celery" if CELERY_BROKER_URL else "thread")
if MODELGATE_JOBS not in ("celery", "thread", "inline"):
    raise ImproperlyConfigured("MODELGATE_JOBS must be celery, thread or inline")
if MODELGATE_JOBS == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("MODELGATE_JOBS=celery needs CELERY_BROKER_URL")
# Results live in the database; Celery only carries "run assessment N".
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge after the task ran, so a message whose worker died is delivered again (the task
# is idempotent: a finished or running assessment is left alone); one message at a time each.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "modelgate")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
MODELGATE_REAP_INTERVAL_SECONDS = env_int("MODELGATE_REAP_INTERVAL_SECONDS", 30)
CELERY_BEAT_SCHEDULE = {
    "reap-assessments": {
        "task": "governance.reap_assessments",
        "schedule": float(MODELGATE_REAP_INTERVAL_SECONDS),
    },
}
# A running job renews its lease every few seconds; one not renewed for this long is dead.
MODELGATE_ASSESSMENT_LEASE_SECONDS = env_int("MODELGATE_ASSESSMENT_LEASE_SECONDS", 120)
# A task still queued (or a chunked job still waiting for its merge) this long after it was sent
# is sent again: its message was lost. Safe, since every task starts with a claim.
MODELGATE_REQUEUE_AFTER_SECONDS = env_int("MODELGATE_REQUEUE_AFTER_SECONDS", 600)
MODELGATE_ASSESSMENT_MAX_ROWS = env_int("MODELGATE_ASSESSMENT_MAX_ROWS", 5_000_000)
# Resource limits of the sandboxed model process, per run.
MODELGATE_SANDBOX_MEMORY_BYTES = env_int("MODELGATE_SANDBOX_MEMORY_BYTES", 8 * 1024**3)
MODELGATE_SANDBOX_CPU_SECONDS = env_int("MODELGATE_SANDBOX_CPU_SECONDS", 1800)
MODELGATE_SANDBOX_WALL_SECONDS = env_int("MODELGATE_SANDBOX_WALL_SECONDS", 3600)
# Refuse to run a model where the kernel cannot put it in its own namespaces (no network, no
# view of other processes, the deployment's data hidden). Turn off only on a trusted machine.
MODELGATE_SANDBOX_REQUIRE_ISOLATION = env_bool("MODELGATE_SANDBOX_REQUIRE_ISOLATION", True)

# --- Audit dossier signing --------------------------------------------------------------------
# PEM paths of the deployment's dossier signing key and certificate: both or neither (without
# them dossiers go out unsigned). Read and checked by governance.dossier.signing when a dossier is
# signed. CHAIN: intermediate (and root) certificates embedded in each signature; TRUST_ROOTS: the
# roots a validation trusts, and nothing else (no system store). Both comma-separated paths.
MODELGATE_DOSSIER_SIGNING_KEY = env_str("MODELGATE_DOSSIER_SIGNING_KEY")
MODELGATE_DOSSIER_SIGNING_KEY_PASSWORD = env_str("MODELGATE_DOSSIER_SIGNING_KEY_PASSWORD")
MODELGATE_DOSSIER_SIGNING_CERT = env_str("MODELGATE_DOSSIER_SIGNING_CERT")
MODELGATE_DOSSIER_SIGNING_CHAIN = env_list("MODELGATE_DOSSIER_SIGNING_CHAIN", [])
MODELGATE_DOSSIER_TRUST_ROOTS = env_list("MODELGATE_DOSSIER_TRUST_ROOTS", [])

# --- Notifications -----------------------------------------------------------------------------
# Reviewer e-mails go through Django's default mailer (MAILERS, Django 6.1; the old EMAIL_*
# settings are deprecated and may not be mixed with it): the console (the process's output) in
# development or when no SMTP host is set, SMTP otherwise. The environment keeps the usual names.
_email_host = env_str("EMAIL_HOST")
if DEBUG or not _email_host:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env_int("EMAIL_PORT", 587),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": env_int("EMAIL_TIMEOUT", 10),
            },
        }
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ModelGate <modelgate@localhost>")
# Webhook deliveries: each attempt waits at most TIMEOUT for the receiver; a failed one is retried
# after BACKOFF * 2^(attempt-1) seconds (at most BACKOFF_MAX) until MAX_ATTEMPTS, then it is
# failed and can be replayed. Due retries are sent every RETRY_INTERVAL (celery beat, or a timer
# thread in the thread mode).
# Where people reach this deployment: the links in e-mails and webhook payloads start with it.
MODELGATE_BASE_URL = env_str("MODELGATE_BASE_URL", "http://127.0.0.1:8000")
MODELGATE_WEBHOOK_TIMEOUT_SECONDS = env_int("MODELGATE_WEBHOOK_TIMEOUT_SECONDS", 10)
MODELGATE_WEBHOOK_MAX_ATTEMPTS = env_int("MODELGATE_WEBHOOK_MAX_ATTEMPTS", 6)
MODELGATE_WEBHOOK_BACKOFF_SECONDS = env_int("MODELGATE_WEBHOOK_BACKOFF_SECONDS", 30)
MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS = env_int("MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)
MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS = env_int("MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS", 30)
if min(MODELGATE_WEBHOOK_MAX_ATTEMPTS, MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS) < 1:
    raise ImproperlyConfigured(
        "MODELGATE_WEBHOOK_MAX_ATTEMPTS and MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS must be >= 1"
    )
CELERY_BEAT_SCHEDULE["deliver-webhooks"] = {
    "task": "governance.deliver_webhooks",
    "schedule": float(MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HasRole"],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ModelGate API",
    "DESCRIPTION": "Model governance and compliance registry.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "kind": name each enum after its own model.
    "ENUM_NAME_OVERRIDES": {
        "AssessmentKindEnum": "governance.models.AssessmentKind",
        "LineageEdgeKindEnum": "registry.models.EdgeKind",
        "AssessmentStatusEnum": "governance.models.AssessmentStatus",
        "PromotionStatusEnum": "governance.models.PromotionStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
