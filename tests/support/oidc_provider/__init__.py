"""A real OpenID Connect provider for the SSO tests: a small Django project on django-oauth-toolkit's OIDC support.

Runs in its own process (`runserver` on a free loopback port, tests/support/oidc_server.py) with its own SQLite
database and an RSA signing key generated at start. Its users' `email_verified` claim is true unless the username
starts with "unverified-", so tests can present an address the provider did not check.
"""
