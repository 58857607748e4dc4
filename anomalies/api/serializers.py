"""Anomaly flag API shapes (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from anomalies.models import Flag, Rule


class FlagKeySerializer(serializers.Serializer):
    """The flagged key as its owners know it: never its secret or digest."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's display prefix.")


class FlagClientSerializer(serializers.Serializer):
    """The flagged OAuth client (its access tokens' traffic)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    client_id = serializers.CharField()


class FlagSerializer(serializers.ModelSerializer):
    """One anomaly flag of the application."""

    rule = serializers.ChoiceField(choices=Rule.choices, help_text="Which rule raised it (docs/anomalies.md).")
    key = FlagKeySerializer(allow_null=True)
    oauth_client = FlagClientSerializer(allow_null=True)
    details = serializers.DictField(help_text="The rule's measures: requests, counts, rates and baselines.")

    class Meta:
        model = Flag
        fields = ["id", "rule", "hour", "key", "oauth_client", "observed", "baseline", "details", "created_at"]
        read_only_fields = fields
