from django.apps import AppConfig


class SsoConfig(AppConfig):
    """Single sign-on to the portal with external OpenID Connect providers (docs/sso.md)."""

    name = "sso"
    verbose_name = "Single sign-on"
    default = True

    def ready(self) -> None:
        # Importing the module connects its receiver (a completed SSO sign-in -> audit and memberships).
        from sso import receivers  # noqa: F401
