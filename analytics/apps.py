from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Usage events and rollups collected from the gateways."""

    name = "analytics"
    verbose_name = "Usage records (read-only)"
