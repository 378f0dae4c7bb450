"""The one settings module: every value comes from the environment, with defaults for local runs.

Unset `DATABASE_URL` / `REDIS_URL` select the embedded defaults (SQLite, a filesystem Celery broker,
an in-process cache), so `make run` needs no services. Production differs by environment only.
"""

from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# development (make run), test (make test) or production; production refuses unsafe defaults.
ENVIRONMENT = env.str("DJANGO_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={ENVIRONMENT!r}: use development, test or production")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=ENVIRONMENT == "development")
INSECURE_DEV_KEY = "django-insecure-dev-only-key-change-me"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_DEV_KEY)
if PRODUCTION and (DEBUG or SECRET_KEY == INSECURE_DEV_KEY):
    raise ImproperlyConfigured("production needs DJANGO_SECRET_KEY set and DJANGO_DEBUG off")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crisis_api.api",
    "organisations",
    "monitoring",
    "incidents",
    "playbooks",
    "communications",
    "notifications",
    "reports",
]

MIDDLEWARE = [
    "crisis_api.middleware.RequestContextMiddleware",
    "crisis_api.ops.http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "crisis_api.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crisis_api.middleware.TenantScopeMiddleware",
]

ROOT_URLCONF = "crisis_api.urls"
APPEND_SLASH = False  # an API answers 404 for a missing slash instead of redirecting a POST
WSGI_APPLICATION = "crisis_api.wsgi.application"
AUTH_USER_MODEL = "organisations.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "crisis_api" / "templates"],
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

# --- Stores -------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'crisis_api.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL + IMMEDIATE transactions let the web process, worker and beat share one file.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str | None = env.str("REDIS_URL", default=None)
if REDIS_URL:
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="crisis"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = (
    {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    # Bound publishing when Redis is down: the outbox row is already committed, the relay retries.
    else {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("queue", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_QUEUE_NAMES = ("ingest", "detect", "notify", "webhooks", "default")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, Any] = {
    "idempotency-keys-purge": {"task": "api.idempotency_purge", "schedule": 3600.0},
    "incidents-overdue-tasks": {"task": "incidents.sweep_overdue_tasks", "schedule": 60.0},
    "incidents-public-updates": {"task": "incidents.sweep_public_updates", "schedule": 60.0},
    "playbooks-overdue-steps": {"task": "playbooks.sweep_overdue_steps", "schedule": 60.0},
    "playbooks-review-due": {"task": "playbooks.sweep_review_due", "schedule": 3600.0},
    "detection-sweep": {"task": "detection.sweep", "schedule": 60.0},
    "detection-group-pending": {"task": "detection.group_pending", "schedule": 60.0},
    "notifications-relay": {"task": "notifications.relay", "schedule": 10.0},
    "webhooks-deliver": {"task": "webhooks.deliver", "schedule": 5.0},
    "webhooks-requeue-stale": {"task": "webhooks.requeue_stale", "schedule": 60.0},
    "notifications-deliver": {"task": "notifications.deliver", "schedule": 5.0},
    "notifications-escalate": {"task": "notifications.escalate", "schedule": 15.0},
    "notifications-requeue-stale": {"task": "notifications.requeue_stale", "schedule": 60.0},
    "notifications-audit": {"task": "notifications.audit", "schedule": 300.0},
    "communications-publish-due": {"task": "communications.publish_due", "schedule": 15.0},
    "communications-expire": {"task": "communications.expire", "schedule": 60.0},
    "communications-requeue": {"task": "communications.requeue_publishing", "schedule": 120.0},
    "communications-retry": {"task": "communications.retry_failed", "schedule": 60.0},
    "monitoring-poll-due": {"task": "monitoring.poll_due", "schedule": 15.0},
    "retention-purge-mentions": {"task": "retention.purge_mentions", "schedule": 900.0},
}
if ENVIRONMENT == "development":  # `make run`: the demo wave's replay (manage.py demo_wave)
    CELERY_BEAT_SCHEDULE["monitoring-demo-replay"] = {
        "task": "monitoring.demo_replay",
        "schedule": 3.0,
    }

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Tests hash thousands of throw-away passwords; everywhere else the slow, safe default.
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.MD5PasswordHasher"
        if ENVIRONMENT == "test"
        else "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    ],
)
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
AUTH_TOKEN_TTL_DAYS = env.int("AUTH_TOKEN_TTL_DAYS", default=30)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
FRONTEND_URL = env.str("FRONTEND_URL", default="http://127.0.0.1:3000")

# --- HTTP / security ----------------------------------------------------------------------------
SECURE = env.bool("DJANGO_SECURE", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SECURE)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "x-csrftoken",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = ["etag", "idempotency-replayed", "retry-after", "x-request-id", "location"]
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
# The inbound push (`…/sources/{id}/ingest/`, up to 1,000 mentions) only. 16 MiB holds 1,000
# items with every field at its limit in ASCII (about 12.6 MiB, docs/api.md "Inbound push").
API_INGEST_MAX_BODY_BYTES = env.int("API_INGEST_MAX_BODY_BYTES", default=16 * 1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000  # admin forms of large organisations (member inlines)
# One-time secrets shown in the admin (new API keys) stay server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# A provider through django-anymail instead, e.g.
# EMAIL_BACKEND=anymail.backends.postmark.EmailBackend ANYMAIL='{"POSTMARK_SERVER_TOKEN": "…"}';
# its message ids are kept on deliveries.
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
ANYMAIL: dict[str, Any] = env.json("ANYMAIL", default={})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crisis-api <no-reply@localhost>")

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The interactive API docs load Swagger UI from our own static files (drf-spectacular-sidecar),
# never from a CDN; WhiteNoise serves them from the installed apps, no collectstatic step needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = env.str("STATIC_ROOT", default=None)  # only for an optional collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    # No OPTIONS metadata: the OpenAPI schema describes every endpoint (CORS preflights are
    # answered by the CORS middleware before any view), so OPTIONS on a view is a 405 problem.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "organisations.authentication.BearerAuthentication",
        "organisations.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["crisis_api.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["crisis_api.api.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "crisis_api.api.pagination.CursorPagination",
    "DEFAULT_THROTTLE_CLASSES": ["crisis_api.api.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "credential": env.str("THROTTLE_RATE_CREDENTIAL", default="1200/min"),
        "anon": env.str("THROTTLE_RATE_ANON", default="120/min"),
        "login": env.str("THROTTLE_RATE_LOGIN", default="30/min"),
    },
    "EXCEPTION_HANDLER": "crisis_api.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "crisis_api.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
    # Client addresses (anonymous and log-in throttles) come from REMOTE_ADDR unless this many
    # trusted proxies in front of us append to X-Forwarded-For; a client cannot forge it.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "crisis-api",
    "DESCRIPTION": "Monitor, manage and communicate through social-media crises. See docs/api.md.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "organisations.models.Role",
        "ActorTypeEnum": "organisations.models.Event.ActorType",
        "InvitationStatusEnum": ["pending", "accepted", "revoked", "expired"],
        "ApiKeyStatusEnum": ["active", "expired", "revoked"],
        "IncidentStatusEnum": "incidents.models.Incident.Status",
        "IncidentSourceEnum": "incidents.models.Incident.Source",
        "IncidentRoleEnum": "incidents.models.IncidentRole",
        "TaskStatusEnum": "incidents.models.Task.Status",
        "TaskSourceEnum": "incidents.models.Task.Source",
        "ReviewStatusEnum": "incidents.models.Review.Status",
        "WebhookEndpointStatusEnum": "notifications.models.WebhookEndpoint.Status",
        "WebhookMessageStatusEnum": "notifications.models.WebhookMessage.Status",
        "ChannelEnum": "notifications.models.Channel",
        "WebhookEventTypeEnum": "notifications.webhooks.WEBHOOK_EVENT_TYPES",
        "NotifiableEventTypeEnum": "notifications.planner.NOTIFIABLE",
        "StepKindEnum": "playbooks.models.StepKind",
        "PlaybookRunStatusEnum": "playbooks.models.PlaybookRun.Status",
        "RunStepStatusEnum": "playbooks.models.PlaybookRunStep.Status",
        "DrillStatusEnum": "playbooks.models.Drill.Status",
        "CommsChannelEnum": "playbooks.models.CHANNELS",
        "ApprovalStrictnessEnum": "incidents.models.Severity.Strictness",
        "MessageStatusEnum": "communications.models.Message.Status",
        "MessageKindEnum": "communications.models.MessageKind",
        "MessageChannelEnum": "communications.models.Channel",
        "MessageAudienceEnum": "communications.models.Audience",
        "MessageLanguageEnum": "communications.models.Language",
        "StatusLabelEnum": "communications.models.Message.StatusLabel",
        "PublicationStatusEnum": "communications.models.Publication.Status",
        "CheckResultEnum": "communications.models.ContentCheck.Result",
        "FindingSeverityEnum": "communications.models.BannedTerm.Severity",
        "ChannelPlatformEnum": "communications.models.ChannelAccount.Platform",
        "PlaybookAudienceEnum": "playbooks.models.AUDIENCES",
        "SourceKindEnum": "monitoring.models.Source.Kind",
        "SourceStatusEnum": "monitoring.models.Source.Status",
        "MentionStatusEnum": "monitoring.models.Mention.Status",
        "WatchTermKindEnum": "monitoring.models.WatchTerm.Kind",
        "SentimentLabelEnum": "monitoring.models.Mention.SentimentLabel",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crisis_api.api.schema.add_problem_responses",
    ],
}

# One JSON object per line (request id, organisation and actor bound) unless LOG_FORMAT=plain;
# plain by default only in development, where people read the console.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if ENVIRONMENT == "development" else "json")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "crisis_api.ops.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task received/succeeded and per beat tick drowns everything else; task
        # outcomes are counted on /metrics and failures still log at ERROR.
        **{
            name: {"level": env.str("LOG_LEVEL_CELERY", default="WARNING")}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}

# Fernet keys (newest first) for secrets stored encrypted; derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Networks outbound requests to tenant URLs may reach although not public (tests, local demos).
SSRF_ALLOWED_NETWORKS = env.list("SSRF_ALLOWED_NETWORKS", default=[])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# Twilio SMS (Programmable Messaging); SMS stays off until these are set.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_STATUS_CALLBACK_URL = env.str("TWILIO_STATUS_CALLBACK_URL", default="")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com/2010-04-01")
# Where people open links from notifications (acknowledge pages).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Operations (docs/operations.md).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /readyz reports "degraded" when the oldest undispatched event is older than this.
OUTBOX_LAG_DEGRADED_SECONDS = env.int("OUTBOX_LAG_DEGRADED_SECONDS", default=120)
# A relay batch planning more notifications than this commits them ahead in chunks of this size
# (notifications/relay.py); 0 plans every batch in one transaction.
RELAY_CHUNK_NOTIFICATIONS = env.int("RELAY_CHUNK_NOTIFICATIONS", default=2_000)
# A notification or webhook message this far past due and not final is reported by the audit.
DELIVERY_AUDIT_GRACE_SECONDS = env.int("DELIVERY_AUDIT_GRACE_SECONDS", default=300)
# Mentions still waiting for case grouping this long after they were stored are grouped by the
# sweep (their after-commit task was lost); younger ones are left to that task.
CASES_GROUPING_GRACE_SECONDS = env.int("CASES_GROUPING_GRACE_SECONDS", default=30)

CSRF_FAILURE_VIEW = "crisis_api.api.errors.csrf_failure"
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=48)
