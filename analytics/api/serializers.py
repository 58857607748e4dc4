"""Usage API shapes: the query it accepts and the series, totals and quota state it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from analytics.models import UsageRollup
from analytics.selectors import MAX_RANGE, STEP, floor_to
from foundation.api.base import BoundedDateTimeField, StrictSerializer

DEFAULT_SPAN = {
    UsageRollup.Granularity.MINUTE: timedelta(hours=1),
    UsageRollup.Granularity.HOUR: timedelta(days=1),
    UsageRollup.Granularity.DAY: timedelta(days=30),
}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class UsageQuerySerializer(StrictSerializer):
    """Query parameters; the range is half-open [from, to) and snapped to whole buckets."""

    granularity = serializers.ChoiceField(choices=UsageRollup.Granularity.choices, default="hour")
    # `from` is a Python keyword: declared below through the field map.
    to = BoundedDateTimeField(required=False, help_text="End of the range (exclusive); default now.")
    api = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Only this API.")
    key = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Only this key.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = BoundedDateTimeField(
            required=False, help_text="Start of the range (inclusive); default one hour, day or 30 days back."
        )
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        granularity = attrs["granularity"]
        step = STEP[granularity]
        end = attrs.get("to") or timezone.now()
        end = floor_to(end, granularity) + (step if floor_to(end, granularity) != end else timedelta(0))
        start = floor_to(attrs.get("from") or end - DEFAULT_SPAN[granularity], granularity)
        if start < EARLIEST:
            raise serializers.ValidationError({"from": ["Too far in the past."]})
        if start >= end:
            raise serializers.ValidationError({"from": ["Must be before `to`."]})
        if end - start > MAX_RANGE[granularity]:
            days = MAX_RANGE[granularity].days
            raise serializers.ValidationError({"from": [f"At most {days} days at {granularity} granularity."]})
        return attrs | {"start": start, "end": end}


class UsagePointSerializer(serializers.Serializer):
    time = serializers.DateTimeField(allow_null=True, help_text="Start of the bucket (null for totals).")
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Answers with status 500 or above.")  # type: ignore[assignment]
    denied = serializers.IntegerField(help_text="Refused by a rate limit, quota or block.")
    bytes_in = serializers.IntegerField()
    bytes_out = serializers.IntegerField()
    latency_avg_ms = serializers.FloatField(allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True, source="percentiles.p50")
    p95_ms = serializers.FloatField(allow_null=True, source="percentiles.p95")
    p99_ms = serializers.FloatField(allow_null=True, source="percentiles.p99")


class QuotaPeriodSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="Null when the plan has no such quota.")
    used = serializers.IntegerField(help_text="Admitted requests counted so far (collected every few seconds).")
    resets_at = serializers.DateTimeField()


class QuotaStateSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(source="subscription.pk")
    api = serializers.IntegerField(source="subscription.api_id")
    api_name = serializers.CharField(source="subscription.api.name")
    plan = serializers.CharField(source="subscription.plan.name")
    day = serializers.SerializerMethodField()
    month = serializers.SerializerMethodField()
    blocked_until = serializers.DateTimeField(source="subscription.blocked_until", allow_null=True)
    blocked_reason = serializers.CharField(source="subscription.blocked_reason")

    def get_day(self, state: Any) -> dict[str, Any]:
        return QuotaPeriodSerializer(
            {"limit": state.day_limit, "used": state.day_used, "resets_at": state.day_resets_at}
        ).data

    def get_month(self, state: Any) -> dict[str, Any]:
        return QuotaPeriodSerializer(
            {"limit": state.month_limit, "used": state.month_used, "resets_at": state.month_resets_at}
        ).data


class UsageSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    granularity = serializers.CharField()
    start = serializers.DateTimeField(help_text="Range start (inclusive), snapped to the bucket.")
    end = serializers.DateTimeField(help_text="Range end (exclusive), snapped to the bucket.")
    series = UsagePointSerializer(many=True, help_text="Buckets with traffic, oldest first.")
    totals = UsagePointSerializer()
    by_status_class = serializers.DictField(child=serializers.IntegerField(), help_text='e.g. {"2xx": 120}')
    quotas = QuotaStateSerializer(many=True)
