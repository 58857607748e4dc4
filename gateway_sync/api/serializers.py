"""Input of the gateway endpoints. Lenient about fields it does not know: gateways may report more later, but
what is stored is bounded and clean: a gateway's report is input like any other (OWASP API10)."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

BIGINT_MAX = 2**63 - 1
# Error times after this (year 3000) are a broken clock; Python's datetime could not even hold some of them.
LATEST_ERROR_TIME = 32_503_680_000.0
MAX_COUNTERS = 1000  # a gateway reports a few dozen
MAX_COUNTER_NAME = 200


class HeartbeatErrorSerializer(serializers.Serializer):
    at = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=LATEST_ERROR_TIME)
    error = serializers.CharField(allow_blank=True, trim_whitespace=False)

    def validate_at(self, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("Give a finite Unix time.")
        return value


class HeartbeatAlarmsSerializer(serializers.Serializer):
    """What needs an operator at the gateway (docs/gateway-protocol.md §4); absent members mean all is well."""

    keys_not_held = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, default=0)
    persist_error = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    persist_error_at = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=LATEST_ERROR_TIME)
    catch_up = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class HeartbeatSerializer(serializers.Serializer):
    """`{"name", "version", "counters", "errors", "time"}` as in docs/gateway-protocol.md §4."""

    name = serializers.CharField(max_length=64)
    version = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, allow_null=True, required=False, default=None)
    counters = serializers.DictField(required=False, default=dict)
    errors = HeartbeatErrorSerializer(many=True, required=False, default=list, max_length=50)
    alarms = HeartbeatAlarmsSerializer(required=False, default=dict)
    # The gateway's clock when it sent this (epoch seconds): measures its offset from the platform's.
    time = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1e11)

    def validate_counters(self, value: dict[str, Any]) -> dict[str, Any]:
        """Names to non-negative numbers, as the gateway's stats module counts them; bounded in size."""
        if len(value) > MAX_COUNTERS:
            raise serializers.ValidationError(f"At most {MAX_COUNTERS} counters.")
        for name, count in value.items():
            if not (0 < len(name) <= MAX_COUNTER_NAME and name.isprintable()):
                raise serializers.ValidationError(f"Counter names are 1-{MAX_COUNTER_NAME} printable characters.")
            number = type(count) in (int, float) and math.isfinite(count)
            if not (number and 0 <= count <= BIGINT_MAX):
                raise serializers.ValidationError(f"Counter {name!r} must be a number from 0 to {BIGINT_MAX}.")
        return value
