"""Test settings: production settings with a test database, a private Redis namespace and fast hashing."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 48)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("PORTICO_SECURE", "0")
os.environ.setdefault("PORTICO_VAR_DIR", "/tmp/portico-test-var")

from config.settings import *  # noqa: E402,F403
from config.settings import CACHES  # noqa: E402

# Each xdist worker gets its own cache namespace so rate-limit counters never leak between tests in parallel.
CACHES["default"]["KEY_PREFIX"] = "portico-test-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Login throttling stays on (it is tested); make it generous per IP so the suite's many logins pass.
# Staff fixtures sign in for real (password + TOTP, tests/support/mfa.py), so logins per IP are generous too.
ACCOUNT_RATE_LIMITS = {**ACCOUNT_RATE_LIMITS, "login_failed": "1000/m/ip,5/5m/key", "login": "1000/m/ip"}  # noqa: F405
PORTICO_OAUTH_FAILED_AUTH_RATE = "1000/m"  # every test client is 127.0.0.1; the throttle tests lower it
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "100000/hour"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns, and warnings are errors, without it)
PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP = True  # local receivers on http://127.0.0.1:<port>; the SSRF tests turn it off
