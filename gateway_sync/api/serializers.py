"""Input of the gateway endpoints. Lenient about fields it does not know: gateways may report more later."""

from __future__ import annotations

from rest_framework import serializers


class HeartbeatErrorSerializer(serializers.Serializer):
    at = serializers.FloatField(required=False, allow_null=True)
    error = serializers.CharField(allow_blank=True, trim_whitespace=False)


class HeartbeatAlarmsSerializer(serializers.Serializer):
    """What needs an operator at the gateway (docs/gateway-protocol.md §4); absent members mean all is well."""

    keys_not_held = serializers.IntegerField(min_value=0, required=False, default=0)
    persist_error = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    persist_error_at = serializers.FloatField(required=False, allow_null=True)
    catch_up = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class HeartbeatSerializer(serializers.Serializer):
    """`{"name", "version", "counters", "errors", "time"}` as in docs/gateway-protocol.md §4."""

    name = serializers.CharField(max_length=64)
    version = serializers.IntegerField(min_value=0, allow_null=True, required=False, default=None)
    counters = serializers.DictField(required=False, default=dict)
    errors = HeartbeatErrorSerializer(many=True, required=False, default=list, max_length=50)
    alarms = HeartbeatAlarmsSerializer(required=False, default=dict)
    # The gateway's clock when it sent this (epoch seconds): measures its offset from the platform's.
    time = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1e11)
