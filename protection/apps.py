from django.apps import AppConfig


class ProtectionConfig(AppConfig):
    """Edge protection: request validation against an API's OpenAPI document at the gateway (docs/protection.md)."""

    name = "protection"
    verbose_name = "Edge protection"
    default = True
