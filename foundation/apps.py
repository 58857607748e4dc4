from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class FoundationConfig(AppConfig):
    """The audit trail's model and the admin helpers shared by every app."""

    name = "foundation"
    verbose_name = "Audit trail (read-only)"
    default = True


class PorticoAdminConfig(admin_apps.AdminConfig):
    """Swap in the MFA-enforcing admin site."""

    default = False
    default_site = "foundation.admin_site.PorticoAdminSite"
