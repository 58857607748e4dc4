"""Portico settings, read from the environment.

Secure by default: production hardening is on unless DJANGO_DEBUG=1 (what `make run` sets for local HTTP).
Our own settings are prefixed PORTICO_. tests/settings.py imports this module and overrides.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PORTICO_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded database, mail files and gateway runtimes live here


def _positive_int(name: str, default: int) -> int:
    """Read an integer setting that must be > 0, failing loudly on nonsense."""
    value = env.int(name, default=default)
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive integer, got {value!r}")
    return value


DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="" if not DEBUG else "dev-only-insecure-secret-key-change-me-0123456789"
)
if not SECRET_KEY or (not DEBUG and len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set (50+ random characters) when DJANGO_DEBUG is off")
# Old keys still accepted for signed values (sessions, password reset links) while a new one takes over; they never
# decrypt secrets at rest, which use PORTICO_SECRETS_KEY (docs/deploy.md, "Secret rotation").
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Where the portal is reachable, for links in emails and the gateway protocol.
PORTICO_SITE_URL = env.str("PORTICO_SITE_URL", default="http://127.0.0.1:8000")
# Public address of the edge gateways, shown to developers in "try it" examples.
PORTICO_GATEWAY_URL = env.str("PORTICO_GATEWAY_URL", default="http://127.0.0.1:8080").rstrip("/")
# Extra secret mixed into key digests is deliberately NOT used: keys are 256-bit random, so a plain SHA-256
# is sufficient (ASVS 6.5.2) and lets gateways verify keys without holding any platform secret.
PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = _positive_int("PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION", 5)
PORTICO_MAX_CLIENT_CERTIFICATES_PER_APPLICATION = _positive_int("PORTICO_MAX_CLIENT_CERTIFICATES_PER_APPLICATION", 10)
# Resource caps (OWASP API4): what one tenant or user can create, so a loop or a leaked token cannot flood the
# platform. Keys rotated but still in their grace period count separately, up to the same number again.
PORTICO_MAX_APPLICATIONS_PER_ORGANISATION = _positive_int("PORTICO_MAX_APPLICATIONS_PER_ORGANISATION", 100)
PORTICO_MAX_ORGANISATIONS_PER_USER = _positive_int("PORTICO_MAX_ORGANISATIONS_PER_USER", 20)
PORTICO_MAX_MEMBERS_PER_ORGANISATION = _positive_int("PORTICO_MAX_MEMBERS_PER_ORGANISATION", 500)
PORTICO_MAX_OPEN_INVITATIONS_PER_ORGANISATION = _positive_int("PORTICO_MAX_OPEN_INVITATIONS_PER_ORGANISATION", 50)
PORTICO_MAX_ACCESS_TOKENS_PER_USER = _positive_int("PORTICO_MAX_ACCESS_TOKENS_PER_USER", 20)
# Encrypts secrets the platform must reuse (gateway push secrets); derived from SECRET_KEY when empty.
PORTICO_SECRETS_KEY = env.str("PORTICO_SECRETS_KEY", default="")
PORTICO_MAX_PAGE_SIZE = _positive_int("PORTICO_MAX_PAGE_SIZE", 100)
PORTICO_INVITATION_MAX_AGE = timedelta(days=_positive_int("PORTICO_INVITATION_DAYS", 7))

INSTALLED_APPS = [
    "foundation.apps.PorticoAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "django_htmx",
    "csp",
    "health_check",
    "foundation",
    "portal",
    "keys",
    "analytics",
    "gateway_sync",
    "webhooks",
    "notifications",
    "anomalies",
    "sso",
    "protection",
    "redaction",
    "certificates",
]

MIDDLEWARE = [
    "foundation.errors.pages.MachinePathsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "sso.middleware.SsoFormActionMiddleware",  # inside CSP's: adds the providers to form-action where they are used
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "foundation.audit.AuditContextMiddleware",
    "foundation.errors.pages.DatabaseUnavailableMiddleware",
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
                "portal.context_processors.portal",
            ],
        },
    },
]

# Embedded SQLite by default so `make run` needs no server; PostgreSQL (recommended) when DATABASE_URL is set.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portico.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The cache only holds throttling counters, so a Redis outage must not take the portal down with it:
# while Redis is unreachable each process counts in its own memory (portal/cache.py).
CACHES = {
    "default": {
        "BACKEND": "foundation.cache.RedisWithLocalFallback",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("PORTICO_CACHE_PREFIX", default="portico"),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Collected at deploy time; the container image collects them at build time, outside its state volume.
STATIC_ROOT = Path(env.str("PORTICO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Accounts (django-allauth) ---
SITE_ID = 1
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:dashboard"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False  # this session stays; every other one ends (its auth hash changed)
# The account's address hears of password and email changes (the old address, when the email changes).
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Portico] "
ACCOUNT_ADAPTER = "portal.adapters.PorticoAccountAdapter"
# Brute-force protection: failed logins are limited per (IP) and per (email), so one attacked account
# does not lock out the others. Counters live in the shared Redis cache, so every portal process agrees.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("PORTICO_LOGIN_FAILED_LIMIT", default="20/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Sensitive actions (MFA changes, email changes) need a recent proof of identity: by the second factor when the
# account has one (portal.adapters). A sign-in within the window counts as one.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = _positive_int("PORTICO_REAUTHENTICATION_TIMEOUT", 300)
# The admin needs this session to have given its second factor within this many seconds, then asks again.
PORTICO_ADMIN_REAUTHENTICATION_TIMEOUT = _positive_int("PORTICO_ADMIN_REAUTHENTICATION_TIMEOUT", 2 * 3600)
MFA_TOTP_ISSUER = "Portico"
# Single sign-on with OpenID Connect providers that admins configure (docs/sso.md). sso.adapters applies the
# takeover rule: a provider-verified address at a domain the provider is trusted for; linking to an existing
# account only when that account's address was confirmed. Sign-in starts with a POST (CSRF-protected), never a GET.
SOCIALACCOUNT_ADAPTER = "sso.adapters.PorticoSocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_REQUIRED = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # linking by email is sso.adapters' decision, not allauth's
SOCIALACCOUNT_STORE_TOKENS = False  # the provider's tokens are not needed after sign-in
SOCIALACCOUNT_REQUESTS_TIMEOUT = _positive_int("PORTICO_SSO_TIMEOUT", 5)
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}}

# --- Email: a file backend by default (read the links in var/mail), SMTP via EMAIL_URL ---
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portico <no-reply@portico.localhost>")

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "keys.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["foundation.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "foundation.api.pagination.PorticoPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "foundation.errors.api.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("PORTICO_API_RATE", default="6000/hour")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Portico API",
    "DESCRIPTION": "Manage organisations, applications, subscriptions and API keys.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # No deep links (an anchor inside each operation's button: nested controls that screen readers cannot
    # reach) and no syntax colours (their themes fall below WCAG AA contrast).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "syntaxHighlight": False, "persistAuthorization": False},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are checked like the others (a field the serializer requires is required in a PATCH too),
    # so the schema states their required fields rather than a partial "Patched…" copy.
    "COMPONENT_SPLIT_PATCH": False,
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# --- OAuth2 (gateways authenticate with the client-credentials grant). Default models, not swapped. ---
# Named explicitly so models that point at DOT's application (gateway_sync.Gateway) resolve in migrations.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES": {"gateway": "Pull gateway configuration and report heartbeats"},
    "SCOPES_BACKEND_CLASS": "gateway_sync.scopes.GatewayOnlyScopes",
    "DEFAULT_SCOPES": [],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "PKCE_REQUIRED": True,
    # RFC 9700 (OAuth 2.0 Security BCP): no implicit/password grants, S256 only, tokens hashed at rest, etc.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if not DEBUG else ["https", "http"],
}

# --- OAuth2 for API consumers (keys: client credentials, JWT access tokens, docs/oauth.md) ---
PORTICO_MAX_OAUTH_CLIENTS_PER_APPLICATION = _positive_int("PORTICO_MAX_OAUTH_CLIENTS_PER_APPLICATION", 3)
PORTICO_OAUTH_ISSUER = env.str("PORTICO_OAUTH_ISSUER", default=PORTICO_SITE_URL).rstrip("/")
PORTICO_OAUTH_AUDIENCE = env.str("PORTICO_OAUTH_AUDIENCE", default="portico-gateway")
PORTICO_OAUTH_TOKEN_LIFETIME = _positive_int("PORTICO_OAUTH_TOKEN_LIFETIME", 900)
# The longest lifetime any plan may give: a retired signing key stays in the JWKS this long after its last use.
PORTICO_OAUTH_MAX_TOKEN_LIFETIME = _positive_int("PORTICO_OAUTH_MAX_TOKEN_LIFETIME", 3600)
# A new signing key is published this long before it signs, so every gateway has it before its first token.
PORTICO_OAUTH_KEY_PUBLISH_SECONDS = _positive_int("PORTICO_OAUTH_KEY_PUBLISH_SECONDS", 300)
PORTICO_OAUTH_KEY_MAX_AGE_DAYS = _positive_int("PORTICO_OAUTH_KEY_MAX_AGE_DAYS", 30)
# Token requests per client (each token is a row), and failed client authentications per address (like login_failed).
PORTICO_OAUTH_TOKEN_RATE = env.str("PORTICO_OAUTH_TOKEN_RATE", default="60/m")
PORTICO_OAUTH_FAILED_AUTH_RATE = env.str("PORTICO_OAUTH_FAILED_AUTH_RATE", default="20/m")
for _name in ("PORTICO_OAUTH_TOKEN_RATE", "PORTICO_OAUTH_FAILED_AUTH_RATE"):
    if not re.fullmatch(r"[1-9]\d*/([1-9]\d*)?[smhd]", vars()[_name]):
        raise ImproperlyConfigured(f"{_name} must be a rate such as 60/m or 20/5m")

# --- Celery: reliable by default (STYLE 13) ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "socket_timeout": 2, "socket_connect_timeout": 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# Periodic work (celery beat). Each app adds its own entries: gateway_sync (reconcile, pruning), analytics (log
# collection, quota resets).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# --- Gateway config feed and pushes (gateway_sync) ---
# Changes older than this many days are pruned, but the newest MIN_VERSIONS always stay; a gateway further
# behind is answered 410 and pulls a full snapshot.
PORTICO_FEED_RETENTION_DAYS = _positive_int("PORTICO_FEED_RETENTION_DAYS", 7)
PORTICO_FEED_RETENTION_MIN_VERSIONS = _positive_int("PORTICO_FEED_RETENTION_MIN_VERSIONS", 10_000)
# Most changes per /gateway/v1/changes answer or push; a bigger push backlog is replaced by a full snapshot.
PORTICO_FEED_PAGE_SIZE = _positive_int("PORTICO_FEED_PAGE_SIZE", 1000)
PORTICO_GATEWAY_PUSH_TIMEOUT = env.float("PORTICO_GATEWAY_PUSH_TIMEOUT", default=3.0)
PORTICO_GATEWAY_PUSH_CONCURRENCY = _positive_int("PORTICO_GATEWAY_PUSH_CONCURRENCY", 16)
# A gateway silent for longer than this (3 missed default heartbeats) is lagging, or unreachable if pushes fail.
PORTICO_GATEWAY_HEARTBEAT_STALE_SECONDS = _positive_int("PORTICO_GATEWAY_HEARTBEAT_STALE_SECONDS", 90)
PORTICO_GATEWAY_RECONCILE_SECONDS = _positive_int("PORTICO_GATEWAY_RECONCILE_SECONDS", 15)
# Gateway clocks (heartbeats and admin answers measure them): the fleet page raises an alarm past ALARM; signed
# requests and event times are corrected for offsets up to MAX (beyond it the clock needs fixing, not us).
PORTICO_GATEWAY_CLOCK_ALARM_SECONDS = _positive_int("PORTICO_GATEWAY_CLOCK_ALARM_SECONDS", 10)
PORTICO_GATEWAY_MAX_CLOCK_OFFSET_SECONDS = _positive_int("PORTICO_GATEWAY_MAX_CLOCK_OFFSET_SECONDS", 900)
CELERY_BEAT_SCHEDULE |= {
    "gateway-reconcile": {
        "task": "gateway_sync.tasks.reconcile_gateways",
        "schedule": float(PORTICO_GATEWAY_RECONCILE_SECONDS),
        "options": {"expires": PORTICO_GATEWAY_RECONCILE_SECONDS},
    },
    "gateway-prune-changes": {"task": "gateway_sync.tasks.prune_changes", "schedule": 3600.0},
}

# --- Usage collection (analytics) ---
# Seconds between log collections from each gateway: quotas can overshoot by about rate x this (docs/architecture.md).
PORTICO_USAGE_COLLECT_INTERVAL = env.float("PORTICO_USAGE_COLLECT_INTERVAL", default=2.0)
if not 0.1 <= PORTICO_USAGE_COLLECT_INTERVAL <= 3600:
    raise ImproperlyConfigured("PORTICO_USAGE_COLLECT_INTERVAL must be between 0.1 and 3600 seconds")
# Batches per fetch and fetches per task run: the backlog one run may take on is bounded.
PORTICO_USAGE_FETCH_LIMIT = _positive_int("PORTICO_USAGE_FETCH_LIMIT", 100)
PORTICO_USAGE_FETCH_ROUNDS = _positive_int("PORTICO_USAGE_FETCH_ROUNDS", 10)
# Records older than this are refused at ingest (their partition and rollups may already be gone).
PORTICO_USAGE_MAX_EVENT_AGE_DAYS = _positive_int("PORTICO_USAGE_MAX_EVENT_AGE_DAYS", 35)
PORTICO_USAGE_EVENT_RETENTION_DAYS = _positive_int("PORTICO_USAGE_EVENT_RETENTION_DAYS", 30)
PORTICO_USAGE_MINUTE_RETENTION_DAYS = _positive_int("PORTICO_USAGE_MINUTE_RETENTION_DAYS", 7)
PORTICO_USAGE_HOUR_RETENTION_DAYS = _positive_int("PORTICO_USAGE_HOUR_RETENTION_DAYS", 90)
CELERY_BEAT_SCHEDULE |= {
    "analytics-collect-logs": {"task": "analytics.tasks.collect_logs", "schedule": PORTICO_USAGE_COLLECT_INTERVAL},
    "analytics-release-quota-blocks": {"task": "analytics.tasks.release_quota_blocks", "schedule": 30.0},
    "analytics-maintain-storage": {"task": "analytics.tasks.maintain_usage_storage", "schedule": 3600.0},
}

# --- Organisation webhooks (webhooks) ---
# Plain http:// to 127.0.0.1 only, for local receivers in development and tests; every other target is https://
# to a public address, checked at each delivery.
PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP = env.bool("PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP", default=False)
PORTICO_WEBHOOKS_TIMEOUT_SECONDS = env.float("PORTICO_WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
if not 0.1 <= PORTICO_WEBHOOKS_TIMEOUT_SECONDS <= 30:
    raise ImproperlyConfigured("PORTICO_WEBHOOKS_TIMEOUT_SECONDS must be between 0.1 and 30 seconds")
PORTICO_WEBHOOKS_MAX_RESPONSE_BYTES = _positive_int("PORTICO_WEBHOOKS_MAX_RESPONSE_BYTES", 64 * 1024)
PORTICO_WEBHOOKS_MAX_ENDPOINTS = _positive_int("PORTICO_WEBHOOKS_MAX_ENDPOINTS", 20)
# A rotated secret keeps signing (next to the new one) for this long, so receivers can switch without a gap.
PORTICO_WEBHOOKS_SECRET_OVERLAP_HOURS = _positive_int("PORTICO_WEBHOOKS_SECRET_OVERLAP_HOURS", 24)
# Retries stop this long after the first attempt; an endpoint failing this long is disabled, its owners emailed.
PORTICO_WEBHOOKS_RETRY_HOURS = _positive_int("PORTICO_WEBHOOKS_RETRY_HOURS", 24)
# Finished webhook events (with their delivery logs) and sent or skipped notification rows are deleted after this
# many days (hourly). At least 32: a notification row is what keeps its email from being decided again, and the
# longest period a decision is about is a month (monthly quotas).
PORTICO_OUTBOX_RETENTION_DAYS = _positive_int("PORTICO_OUTBOX_RETENTION_DAYS", 90)
if PORTICO_OUTBOX_RETENTION_DAYS < 32:
    raise ImproperlyConfigured("PORTICO_OUTBOX_RETENTION_DAYS must be at least 32 days")
CELERY_BEAT_SCHEDULE |= {
    "webhooks-send-due": {"task": "webhooks.tasks.send_due", "schedule": 15.0, "options": {"expires": 15}},
    "webhooks-prune": {"task": "webhooks.tasks.prune", "schedule": 3600.0},
}

# --- Notification emails (docs/notifications.md): decided by periodic checks and events, sent by the sweep ---
CELERY_BEAT_SCHEDULE |= {
    "notifications-check-quotas": {"task": "notifications.tasks.check_quotas", "schedule": 60.0},
    "notifications-check-key-expiry": {"task": "notifications.tasks.check_key_expiry", "schedule": 3600.0},
    "notifications-check-certificate-expiry": {
        "task": "notifications.tasks.check_certificate_expiry",
        "schedule": 3600.0,
    },
    "notifications-send-due": {"task": "notifications.tasks.send_due", "schedule": 60.0},
    "notifications-prune": {"task": "notifications.tasks.prune", "schedule": 3600.0},
}

# --- Anomaly flags (anomalies; docs/anomalies.md): rules over the hour rollups and invalid-key denials ---
# A key's hour is a spike past FACTOR times the mean of the same hour on the 7 days before, with at least
# SPIKE_MIN_REQUESTS requests; an error or denial rate jumps when it reaches RATE_THRESHOLD_PERCENT of at least
# RATE_MIN_REQUESTS requests and is over FACTOR times the key's 7-day rate. A client address bursts with
# INVALID_KEY_MIN invalid-key answers (401, or the flood throttle's 429) in an hour.
PORTICO_ANOMALY_FACTOR = _positive_int("PORTICO_ANOMALY_FACTOR", 5)
PORTICO_ANOMALY_SPIKE_MIN_REQUESTS = _positive_int("PORTICO_ANOMALY_SPIKE_MIN_REQUESTS", 1000)
PORTICO_ANOMALY_RATE_MIN_REQUESTS = _positive_int("PORTICO_ANOMALY_RATE_MIN_REQUESTS", 100)
PORTICO_ANOMALY_RATE_THRESHOLD_PERCENT = _positive_int("PORTICO_ANOMALY_RATE_THRESHOLD_PERCENT", 20)
if PORTICO_ANOMALY_RATE_THRESHOLD_PERCENT > 100:
    raise ImproperlyConfigured("PORTICO_ANOMALY_RATE_THRESHOLD_PERCENT must be between 1 and 100")
PORTICO_ANOMALY_INVALID_KEY_MIN = _positive_int("PORTICO_ANOMALY_INVALID_KEY_MIN", 100)
# Seconds between detection runs: a flag is raised at most this long after its hour's usage is collected.
PORTICO_ANOMALY_DETECT_INTERVAL = _positive_int("PORTICO_ANOMALY_DETECT_INTERVAL", 300)
CELERY_BEAT_SCHEDULE |= {
    "anomalies-detect": {
        "task": "anomalies.tasks.detect",
        "schedule": float(PORTICO_ANOMALY_DETECT_INTERVAL),
        "options": {"expires": PORTICO_ANOMALY_DETECT_INTERVAL},
    },
}

# --- Security headers ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
_secure = env.bool("PORTICO_SECURE", default=not DEBUG)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_SSL_REDIRECT = env.bool("PORTICO_SSL_REDIRECT", default=_secure)
SECURE_HSTS_SECONDS = 31_536_000 if _secure else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
_behind_proxy = env.bool("PORTICO_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _behind_proxy else None
# Proxies we run that append to X-Forwarded-For: allauth's per-IP login limits (and the OAuth failed-auth limit)
# take the client address that far from the right; with 0 every client behind the proxy would share one counter.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("PORTICO_TRUSTED_PROXY_COUNT", default=1 if _behind_proxy else 0)
if ALLAUTH_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("PORTICO_TRUSTED_PROXY_COUNT must be 0 or more")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Logging: JSON lines through structlog; values are JSON-encoded, so CR/LF in user input cannot forge lines ---
from config.logging import json_logging  # noqa: E402

LOG_LEVEL = env.str("PORTICO_LOG_LEVEL", default="INFO")
LOGGING = json_logging(LOG_LEVEL)

CELERY_BEAT_SCHEDULE |= {
    "oauth-rotate-signing-keys": {"task": "keys.tasks.rotate_signing_keys", "schedule": 3600.0},
    "oauth-prune-tokens": {"task": "keys.tasks.prune_oauth_tokens", "schedule": 3600.0},
}
