from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Organisation webhooks: endpoints, the event outbox, signed deliveries with retries."""

    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Keys and portal services publish events through foundation.events; the outbox listens here, so they
        # never import this app.
        from foundation import events
        from webhooks import outbox

        events.subscribe(outbox.event_record)
