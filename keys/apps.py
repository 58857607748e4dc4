from django.apps import AppConfig


class KeysConfig(AppConfig):
    """API keys and personal access tokens: issuing, hashing, rotating and revoking secrets."""

    name = "keys"
    verbose_name = "Keys and tokens"
