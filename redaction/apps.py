from django.apps import AppConfig


class RedactionConfig(AppConfig):
    """Per-API rules that keep card numbers, national ids, email addresses and named fields out of what Portico keeps."""

    name = "redaction"
    verbose_name = "Redaction"
    default = True
