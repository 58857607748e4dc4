"""Client certificates (consumer mTLS) and the per-API policy that asks for them (docs/mtls.md).

A certificate is public: only its facts are kept (fingerprint, subject, issuer, serial, validity) with the PEM so
people can download what they registered. The gateway matches the SHA-256 of the presented certificate's DER.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from foundation.fields import NameField
from portal.models import Api, Application


class ClientCertificateQuerySet(models.QuerySet["ClientCertificate"]):
    def for_user(self, user: object) -> ClientCertificateQuerySet:
        return self.filter(application__organisation__memberships__user=user)

    def shipped_at(self, when: datetime) -> ClientCertificateQuerySet:
        """What gateways hold: every certificate not yet past its end, revoked ones too (so they can say why)."""
        return self.filter(not_after__gt=when)

    def active(self) -> ClientCertificateQuerySet:
        return self.filter(revoked_at__isnull=True)


class ClientCertificate(models.Model):
    """An X.509 certificate an application presents to the gateway in the TLS handshake."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="client_certificates")
    name = NameField(max_length=100)
    fingerprint = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the DER, hex.")
    pem = models.TextField(editable=False)
    subject = models.CharField(max_length=500, editable=False)
    issuer = models.CharField(max_length=500, editable=False)
    serial = models.CharField(max_length=80, editable=False)
    not_before = models.DateTimeField(editable=False)
    not_after = models.DateTimeField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ClientCertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "client certificate"

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:16]})"

    @property
    def fingerprint_display(self) -> str:
        """AA:BB:... as openssl x509 -fingerprint -sha256 prints it."""
        return ":".join(self.fingerprint[i : i + 2] for i in range(0, len(self.fingerprint), 2)).upper()

    def state_at(self, when: datetime) -> str:
        """active, not-yet-valid, expired or revoked: what the portal shows."""
        if self.revoked_at is not None:
            return "revoked"
        if self.not_after <= when:
            return "expired"
        if self.not_before > when:
            return "not-yet-valid"
        return "active"

    def days_left(self, when: datetime) -> int:
        return max(0, (self.not_after - when).days)


class MtlsPolicy(models.Model):
    """Whether an API asks callers for a registered client certificate, and the CA it must be issued by."""

    class Mode(models.TextChoices):
        OFF = "off", "Off"
        WITH_KEY = "with_key", "Certificate and a key or token"
        ALONE = "alone", "Certificate alone"

    api = models.OneToOneField(Api, on_delete=models.CASCADE, related_name="mtls_policy")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.OFF)
    ca_pem = models.TextField(blank=True, help_text="Optional: client certificates must be issued by this CA.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "mTLS policy"
        verbose_name_plural = "mTLS policies"
        constraints = [models.CheckConstraint(condition=~Q(mode=""), name="mtls_policy_mode_set")]

    def __str__(self) -> str:
        return f"{self.api} mTLS {self.mode}"


class UpstreamCertificate(models.Model):
    """The client certificate an API's gateways present to its https upstream; the private key encrypted at rest
    (gateway_sync.secrets) and decrypted only into the gateways' config."""

    api = models.OneToOneField(Api, on_delete=models.CASCADE, related_name="upstream_certificate")
    certificate_pem = models.TextField()
    key_encrypted = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    subject = models.CharField(max_length=500, editable=False)
    not_after = models.DateTimeField(editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "upstream client certificate"

    def __str__(self) -> str:
        return f"{self.api} → upstream as {self.subject}"
