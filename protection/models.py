"""Per-API edge protection settings and what report mode found."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.models import Api


class ApiProtection(models.Model):
    """How the gateway checks an API's requests: validation against its OpenAPI document (compiled for the edge) and
    generic attack signatures."""

    class Mode(models.TextChoices):
        OFF = "off", "Off"
        REPORT = "report", "Report (count what would be refused, refuse nothing)"
        ENFORCE = "enforce", "Enforce (refuse invalid requests with 400)"

    class SignaturesMode(models.TextChoices):
        OFF = "off", "Off"
        REPORT = "report", "Report (count what would be refused, refuse nothing)"
        ENFORCE = "enforce", "Enforce (refuse matching requests with 403)"

    api = models.OneToOneField(Api, on_delete=models.CASCADE, related_name="protection")
    validation_mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.OFF)
    # generic attack signatures in the query, path and body (gateway/lua/portico/signatures.lua), independent of
    # the OpenAPI document
    signatures_mode = models.CharField(max_length=10, choices=SignaturesMode.choices, default=SignaturesMode.OFF)
    # The document's compact form (protection/openapi.py), null when it does not compile; compile_error says why.
    compiled = models.JSONField(null=True, blank=True, editable=False)
    compiled_digest = models.CharField(max_length=64, blank=True, editable=False)
    compile_error = models.TextField(blank=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "request validation"

    def __str__(self) -> str:
        return f"Request validation of {self.api}: {self.validation_mode}"

    @property
    def enforced_at_edge(self) -> bool:
        """Whether gateways receive a validator (a mode other than off and a document that compiled)."""
        return self.validation_mode != self.Mode.OFF and self.compiled is not None


class ValidationFinding(models.Model):
    """Requests report mode would have refused, per API, operation, cause, rule and field, and hour."""

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="validation_findings")
    hour = models.DateTimeField()
    operation = models.CharField(max_length=200)  # "GET /pets/{id}", "" when no operation matched
    cause = models.CharField(max_length=40)  # the problem type enforcement would answer
    rule = models.CharField(max_length=40)  # the schema keyword broken ("type", "maximum"...)
    pointer = models.CharField(max_length=200)  # JSON Pointer of the field, never its value
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api", "hour", "operation", "cause", "rule", "pointer"], name="validation_finding_unique"
            )
        ]
        indexes = [models.Index(fields=["api", "hour"])]

    def __str__(self) -> str:
        return f"{self.operation} {self.cause} {self.pointer}: {self.count}"
