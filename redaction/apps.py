from django.apps import AppConfig


class RedactionConfig(AppConfig):
    """Per-API rules keeping card numbers, national ids, email addresses and named fields out of what Portico stores."""

    name = "redaction"
    verbose_name = "Redaction"
    default = True
