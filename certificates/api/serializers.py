"""Shapes of client certificates: the facts the platform keeps and the upload (PEM text)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from certificates.models import ClientCertificate
from certificates.pem import MAX_PEM_BYTES
from foundation.api.base import StrictCharField, StrictSerializer
from portal.api.serializers import name_field

STATES = ["active", "not-yet-valid", "expired", "revoked"]


class ClientCertificateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.IntegerField(source="application_id")
    name = serializers.CharField()
    fingerprint = serializers.CharField(help_text="SHA-256 of the certificate's DER, lower-case hex.")
    subject = serializers.CharField()
    issuer = serializers.CharField()
    serial = serializers.CharField(help_text="Hex.")
    not_before = serializers.DateTimeField()
    not_after = serializers.DateTimeField()
    days_left = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    pem = serializers.CharField(help_text="The certificate (public).")

    @extend_schema_field(serializers.ChoiceField(choices=STATES))
    def get_state(self, cert: ClientCertificate) -> str:
        return cert.state_at(self.context.get("now") or timezone.now())

    @extend_schema_field(serializers.IntegerField())
    def get_days_left(self, cert: ClientCertificate) -> int:
        return cert.days_left(self.context.get("now") or timezone.now())


class ClientCertificateCreateSerializer(StrictSerializer):
    name = name_field()
    pem = StrictCharField(
        max_length=MAX_PEM_BYTES,
        trim_whitespace=False,
        help_text="One PEM certificate (-----BEGIN CERTIFICATE-----), never its private key.",
    )
