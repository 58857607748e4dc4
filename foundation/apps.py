from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class FoundationConfig(AppConfig):
    """The audit trail's model and the admin helpers shared by every app."""

    name = "foundation"
    verbose_name = "Audit trail (read-only)"
    default = True

    def ready(self) -> None:
        # The admin app comes first in INSTALLED_APPS, so every admin module has been imported by now.
        from django.contrib import admin

        from foundation.admin import audit_every_model_admin

        audit_every_model_admin(admin.site)


class PorticoAdminConfig(admin_apps.AdminConfig):
    """Swap in the MFA-enforcing admin site."""

    default = False
    default_site = "foundation.admin_site.PorticoAdminSite"
