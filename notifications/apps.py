from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notification emails to organisation owners and admins: quotas, expiring keys, key and subscription changes."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Keys and portal publish events through foundation.events; listening here keeps them unaware of this app.
        from foundation import events
        from notifications import services

        events.subscribe(services.event_record)
