from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    """Accounts, organisations, the API catalog, applications, subscriptions and the audit log."""

    name = "portal"
    default = True

    def ready(self) -> None:
        from portal import receivers  # noqa: F401  (auth events -> audit log)


class PorticoAdminConfig(admin_apps.AdminConfig):
    """Swap in the MFA-enforcing admin site."""

    default = False
    default_site = "portal.admin_site.PorticoAdminSite"
