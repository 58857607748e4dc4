from django.apps import AppConfig


class GatewaySyncConfig(AppConfig):
    """Gateway registry, the versioned config feed, pushes and log collection."""

    name = "gateway_sync"
    verbose_name = "Gateways"
