from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    """Mutual TLS: client certificates registered by applications and the per-API policy requiring them."""

    name = "certificates"
    verbose_name = "Client certificates (mTLS)"
