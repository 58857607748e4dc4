from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Accounts, organisations, the API catalog, applications and subscriptions."""

    name = "portal"
    verbose_name = "Tenants and catalog"
    default = True

    def ready(self) -> None:
        # Importing the module connects its receivers; Django's app registry must be ready first.
        from portal import receivers  # noqa: F401  (auth events -> audit log)
