"""Usage API shapes: the query it accepts and the series, totals and quota state it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from analytics.models import UsageRollup
from analytics.selectors import MAX_RANGE, STEP, RequestLogFilter, floor_to
from analytics.services.records import DENIAL_CAUSES
from foundation.api.base import BoundedDateTimeField, StrictSerializer

DEFAULT_SPAN = {
    UsageRollup.Granularity.MINUTE: timedelta(hours=1),
    UsageRollup.Granularity.HOUR: timedelta(days=1),
    UsageRollup.Granularity.DAY: timedelta(days=30),
}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REQUEST_LOG_PAGE = 200
REQUEST_METHOD = r"^[A-Z]{1,16}$"


def validate_request_path_prefix(value: str) -> None:
    """A path prefix to filter on: starts with '/', printable; the log keeps no query strings to match."""
    if not value.isprintable() or not value.startswith("/") or "?" in value:
        raise serializers.ValidationError("Start with '/'; the log holds paths without query strings.")


class UsageQuerySerializer(StrictSerializer):
    """Query parameters; the range is half-open [from, to) and snapped to whole buckets."""

    granularity = serializers.ChoiceField(choices=UsageRollup.Granularity.choices, default="hour")
    # `from` is a Python keyword: declared below through the field map.
    to = BoundedDateTimeField(required=False, help_text="End of the range (exclusive); default now.")
    api = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Only this API.")
    key = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Only this key.")
    client = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Only this OAuth client's access-token traffic (its id, as the usage page's client filter); "
        "another application's client matches nothing.",
    )

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


class QuotaShareSerializer(serializers.Serializer):
    application = serializers.IntegerField(source="application_id")
    name = serializers.CharField()
    day_used = serializers.IntegerField()
    month_used = serializers.IntegerField()


class QuotaStateSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(source="subscription.pk")
    api = serializers.IntegerField(source="subscription.api_id")
    api_name = serializers.CharField(source="subscription.api.name")
    plan = serializers.CharField(source="subscription.plan.name")
    day = serializers.SerializerMethodField()
    month = serializers.SerializerMethodField()
    blocked_until = serializers.DateTimeField(source="subscription.blocked_until", allow_null=True)
    blocked_reason = serializers.CharField(source="subscription.blocked_reason")
    shared = serializers.SerializerMethodField(
        help_text="The plan's quota is the organisation's: `day` and `month` count all its applications on the plan."
    )
    shares = QuotaShareSerializer(
        many=True, allow_null=True, help_text="Who used a shared quota: the organisation's applications on the plan."
    )

    def get_shared(self, state: Any) -> bool:
        return state.shares is not None

    def get_day(self, state: Any) -> dict[str, Any]:
        return QuotaPeriodSerializer(
            {"limit": state.day_limit, "used": state.day_used, "resets_at": state.day_resets_at}
        ).data

    def get_month(self, state: Any) -> dict[str, Any]:
        return QuotaPeriodSerializer(
            {"limit": state.month_limit, "used": state.month_used, "resets_at": state.month_resets_at}
        ).data


class EnvironmentUsageSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Answers with status 500 or above.")  # type: ignore[assignment]
    denied = serializers.IntegerField(help_text="Refused by a rate limit, quota or block.")


class UsageByEnvironmentSerializer(serializers.Serializer):
    """Key traffic of live and test keys apart (issue #15); OAuth clients count as live."""

    live = EnvironmentUsageSerializer()
    test = EnvironmentUsageSerializer(help_text="Test keys' requests: sent to sandbox upstreams, never quota.")


class UsageSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    granularity = serializers.CharField()
    start = serializers.DateTimeField(help_text="Range start (inclusive), snapped to the bucket.")
    end = serializers.DateTimeField(help_text="Range end (exclusive), snapped to the bucket.")
    series = UsagePointSerializer(many=True, help_text="Buckets with traffic, oldest first.")
    totals = UsagePointSerializer()
    by_status_class = serializers.DictField(child=serializers.IntegerField(), help_text='e.g. {"2xx": 120}')
    by_environment = UsageByEnvironmentSerializer(help_text="The whole application's range, whatever the filters.")
    quotas = QuotaStateSerializer(many=True)


class OperationUsageSerializer(serializers.Serializer):
    api = serializers.IntegerField(source="api_id", help_text="0 for traffic without an API.")
    api_name = serializers.CharField()
    operation = serializers.CharField(
        help_text='"GET /users/{id}" from the API\'s OpenAPI paths; "other" for requests matching no operation; '
        "empty for traffic without an API or counted before operations were."
    )
    method = serializers.CharField(help_text="Of a matched operation, else empty.")
    path_template = serializers.CharField(source="template", help_text="Of a matched operation, else empty.")
    requests = serializers.IntegerField()
    client_errors = serializers.IntegerField(help_text="Answers with status 400 to 499.")
    server_errors = serializers.IntegerField(help_text="Answers with status 500 or above.")
    denied = serializers.IntegerField(help_text="Refused by a rate limit, quota or block.")
    p50_ms = serializers.FloatField(allow_null=True, source="percentiles.p50")
    p95_ms = serializers.FloatField(allow_null=True, source="percentiles.p95")
    p99_ms = serializers.FloatField(allow_null=True, source="percentiles.p99")


class EndpointUsageSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    granularity = serializers.CharField()
    start = serializers.DateTimeField(help_text="Range start (inclusive), snapped to the bucket.")
    end = serializers.DateTimeField(help_text="Range end (exclusive), snapped to the bucket.")
    results = OperationUsageSerializer(many=True, help_text='Busiest first; "other" and unmatched rows last.')


class OrganisationUsageQuerySerializer(UsageQuerySerializer):
    """The usage query without the per-application filters (an API or key belongs to one application)."""

    api = None  # type: ignore[assignment]
    key = None  # type: ignore[assignment]
    client = None  # type: ignore[assignment]


class ApplicationUsageSerializer(serializers.Serializer):
    application = serializers.IntegerField(source="application_id")
    name = serializers.CharField(help_text='"Deleted application #id" for one deleted since its traffic.')
    exists = serializers.BooleanField(help_text="False when the application was deleted (its usage stays).")
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Answers with status 500 or above.")  # type: ignore[assignment]
    denied = serializers.IntegerField(help_text="Refused by a rate limit, quota or block.")


class OrganisationUsageSerializer(serializers.Serializer):
    organisation = serializers.IntegerField()
    granularity = serializers.CharField()
    start = serializers.DateTimeField(help_text="Range start (inclusive), snapped to the bucket.")
    end = serializers.DateTimeField(help_text="Range end (exclusive), snapped to the bucket.")
    series = UsagePointSerializer(many=True, help_text="Buckets with traffic, oldest first, all applications.")
    totals = UsagePointSerializer()
    by_status_class = serializers.DictField(child=serializers.IntegerField(), help_text='e.g. {"2xx": 120}')
    applications = ApplicationUsageSerializer(many=True, help_text="Every application, busiest first.")


class RequestLogQuerySerializer(StrictSerializer):
    """Request-log filters (combined with AND), the page size and the cursor of the next page."""

    status_class = serializers.IntegerField(
        required=False, min_value=1, max_value=5, help_text="1 to 5: only 1xx … 5xx answers."
    )
    status = serializers.IntegerField(required=False, min_value=100, max_value=599, help_text="Only this status.")
    method = serializers.RegexField(
        REQUEST_METHOD, required=False, max_length=16, help_text="Only this HTTP method (upper case)."
    )
    path_prefix = serializers.CharField(
        required=False,
        max_length=512,
        validators=[validate_request_path_prefix],
        help_text="Only paths starting with this (starts with '/'; the log holds no query strings).",
    )
    key = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Only this key.")
    client_ip = serializers.IPAddressField(required=False, help_text="Only requests from this client address.")
    denial_cause = serializers.ChoiceField(
        choices=DENIAL_CAUSES, required=False, help_text="Only requests the gateway refused for this cause."
    )
    # `from` is a Python keyword: declared below through the field map.
    to = BoundedDateTimeField(required=False, help_text="Only requests before this moment (exclusive).")
    cursor = serializers.CharField(required=False, max_length=400, help_text="The `next_cursor` of the last page.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_REQUEST_LOG_PAGE, default=50)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = BoundedDateTimeField(required=False, help_text="Only requests at or after this moment.")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"from": ["Must be before `to`."]})
        return attrs

    def filters(self) -> RequestLogFilter:
        data = self.validated_data
        return RequestLogFilter(
            status_class=data.get("status_class"),
            status=data.get("status"),
            method=data.get("method"),
            path_prefix=data.get("path_prefix"),
            key_id=data.get("key"),
            client_ip=data.get("client_ip"),
            denial_cause=data.get("denial_cause"),
            start=data.get("from"),
            end=data.get("to"),
        )


class RequestEventSerializer(serializers.Serializer):
    """One logged request; the path never carries a query string, the key only its display prefix."""

    time = serializers.DateTimeField()
    request_id = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField(source="display_path")
    status = serializers.IntegerField()
    latency_ms = serializers.FloatField(allow_null=True)
    upstream_ms = serializers.FloatField(allow_null=True)
    key = serializers.IntegerField(source="key_id", allow_null=True)
    key_prefix = serializers.CharField()
    client_ip = serializers.CharField(allow_null=True)
    api = serializers.IntegerField(source="api_id", allow_null=True)
    limit_outcome = serializers.CharField(help_text="ok, rate, quota, blocked, or empty when no limit was checked.")
    denial_cause = serializers.CharField(help_text="The gateway's problem type when it answered itself, else empty.")


class RequestLogSerializer(serializers.Serializer):
    results = RequestEventSerializer(many=True, help_text="Newest first.")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older requests.")
    next = serializers.CharField(allow_null=True, help_text="The URL of the next (older) page.")
    retention_days = serializers.IntegerField(help_text="Requests older than this are pruned.")
