from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Accounts, organisations, the API catalog, applications, subscriptions and the audit log."""

    name = "portal"

    def ready(self) -> None:
        from portal import receivers  # noqa: F401  (auth events -> audit log)
