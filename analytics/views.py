"""Portal pages of usage: an application's requests over time, totals, latency and quota meters; its request log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from analytics import selectors
from analytics.charts import latency_chart, outcomes_chart, requests_chart
from analytics.forms import RequestLogForm, UsagePeriodForm
from analytics.selectors.endpoints import OUTCOMES
from analytics.selectors.environments import keys_by_environment
from analytics.selectors.organisation import usage_for_organisation
from analytics.selectors.page import usage_page
from analytics.services.exports import request_log_export_record
from foundation.errors import NotFound, ValidationFailed
from foundation.spreadsheet import csv_stream
from portal.models import Application
from portal.selectors import application_get
from portal.views.common import membership_of, organisation_membership, portal_view


def _key_choices(application: Application) -> list[tuple[int, str]]:
    """The application's keys as a filter offers them, newest first."""
    keys = application.keys.order_by("-created_at", "-id").values_list("id", "name", "prefix")
    return [(pk, f"{name} ({prefix}…)") for pk, name, prefix in keys]


def _client_choices(application: Application) -> list[tuple[int, str]]:
    """The application's OAuth clients as the filter offers them."""
    clients = application.oauth_clients.order_by("-created_at", "-id").values_list("id", "name")
    return list(clients)


@portal_view
def application_usage(request: HttpRequest, application_id: int) -> HttpResponse:
    """Usage of one application over the picked period; a bad period shows the default with a notice."""
    application = application_get(user=request.user, application_id=application_id)
    membership = membership_of(request, application.organisation_id)
    form = UsagePeriodForm(request.GET, keys=_key_choices(application), clients=_client_choices(application))
    period, key_id, client_id = form.period_or_default(), form.key_or_none(), form.client_or_none()
    now = timezone.now()
    granularity, start, end = selectors.usage_window(period=period, now=now)
    window: dict[str, Any] = {"application": application, "granularity": granularity, "start": start, "end": end}
    found = usage_page(**window, key_id=key_id, client_id=client_id)
    usage, by_key, by_client = found.usage, found.by_key, found.by_client
    step = selectors.STEP[granularity]
    chart = requests_chart(granularity=granularity, start=start, end=end, step=step, counts=found.counts)
    points = {p.time: (p.requests, p.percentiles) for p in usage.series if p.time is not None}
    context = {
        "application": application,
        "membership": membership,
        "form": form,
        "period": period,
        "granularity": granularity,
        "periods": [(name, label) for name, (_, _, label) in selectors.PERIODS.items()],
        "period_label": selectors.PERIODS[period][2],
        "start": start,
        "end": end,
        "usage": usage,
        "chart": chart,
        "by_key": by_key,
        "by_environment": keys_by_environment(application=application, by_key=by_key),
        "key": {row.key_id: row for row in by_key}.get(key_id or 0),  # None: all keys (no key has id 0)
        "by_client": by_client,
        "client": {row.key_id: row for row in by_client}.get(client_id or 0),
        "outcome_chart": outcomes_chart(
            granularity=granularity, start=start, end=end, step=step, counts=found.outcomes, categories=OUTCOMES
        ),
        "latency_chart": latency_chart(granularity=granularity, start=start, end=end, step=step, points=points),
        "by_operation": found.by_operation,
        "quotas": selectors.quota_states(application=application, now=now),
        "now": now,
    }
    return render(request, "analytics/application_usage.html", context)


@portal_view
def organisation_usage(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """Usage of all the organisation's applications over the picked period: totals, a chart, one row each."""
    membership = organisation_membership(request, organisation_id)
    form = UsagePeriodForm(request.GET)
    period = form.period_or_default()
    granularity, start, end = selectors.usage_window(period=period, now=timezone.now())
    found = usage_for_organisation(organisation=membership.organisation, granularity=granularity, start=start, end=end)
    chart = requests_chart(
        granularity=granularity, start=start, end=end, step=selectors.STEP[granularity], counts=found.counts
    )
    context = {
        "membership": membership,
        "form": form,
        "period": period,
        "granularity": granularity,
        "periods": [(name, label) for name, (_, _, label) in selectors.PERIODS.items()],
        "period_label": selectors.PERIODS[period][2],
        "start": start,
        "end": end,
        "usage": found.usage,
        "chart": chart,
        "applications": found.applications,
    }
    return render(request, "analytics/organisation_usage.html", context)


# Request-log page: the newest page, and "Older" pages by the keyset cursor (no OFFSET, so deep pages stay cheap).
REQUEST_LOG_PAGE = 50
CSV_EXPORT_PAGE = 2_000
CSV_EXPORT_MAX_ROWS = 100_000  # a bound on one download; narrow the filter (time range) for more
CSV_HEADER = (
    "time",
    "request_id",
    "method",
    "path",
    "status",
    "latency_ms",
    "key_prefix",
    "client_ip",
    "denial_cause",
    "limit_outcome",
)


def _request_log_form(request: HttpRequest, application: Application) -> RequestLogForm:
    return RequestLogForm(request.GET, keys=_key_choices(application))


def _without(request: HttpRequest, *names: str) -> str:
    """The page's query string without some parameters (the CSV link exports the filter, not a page)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@portal_view
def application_requests(request: HttpRequest, application_id: int) -> HttpResponse:
    """The application's recent requests, filtered; a request id finds one; bad filters re-render with messages."""
    application = application_get(user=request.user, application_id=application_id)
    form = _request_log_form(request, application)
    request_id = request.GET.get("request_id", "").strip()[:64]
    page, found, problem = None, None, ""
    if request_id:
        try:
            found = selectors.request_event_get(application=application, request_id=request_id)
        except NotFound:
            problem = "No request with this id in the log (it may be older than the retention, or not collected yet)."
    elif form.is_valid():
        try:
            page = selectors.request_log_page(
                application=application,
                filters=form.filters(),
                cursor=request.GET.get("cursor") or None,
                size=REQUEST_LOG_PAGE,
            )
        except ValidationFailed:
            problem = "That “Older” link is not valid any more; showing the newest requests."
            page = selectors.request_log_page(application=application, filters=form.filters(), size=REQUEST_LOG_PAGE)
    context = {
        "application": application,
        "membership": membership_of(request, application.organisation_id),
        "form": form,
        "request_id": request_id,
        "found": found,
        "found_events": [found] if found else [],
        "page": page,
        "problem": problem,
        "retention_days": settings.PORTICO_USAGE_EVENT_RETENTION_DAYS,
        "export_query": _without(request, "cursor", "request_id"),
    }
    return render(request, "analytics/application_requests.html", context)


@portal_view  # type: ignore[arg-type]  # a streamed download is not an HttpResponse, and needs none of its API
def application_requests_csv(request: HttpRequest, application_id: int) -> HttpResponseBase:
    """The current filter's requests as CSV, streamed page by page along the keyset; cells are spreadsheet-safe."""
    application = application_get(user=request.user, application_id=application_id)
    form = _request_log_form(request, application)
    if not form.is_valid():
        return application_requests(request, application_id)
    filters = form.filters()
    given = {name: str(value) for name, value in form.cleaned_data.items() if value not in (None, "")}
    request_log_export_record(actor=request.user, application=application, filters=given)

    def rows() -> Iterator[tuple[Any, ...]]:
        cursor, sent = None, 0
        while sent < CSV_EXPORT_MAX_ROWS:
            page = selectors.request_log_page(
                application=application, filters=filters, cursor=cursor, size=CSV_EXPORT_PAGE
            )
            for e in page.events:
                yield (e.time.isoformat(), e.request_id, e.method, e.display_path, e.status, e.latency_ms,
                       e.key_prefix, e.client_ip, e.denial_cause, e.limit_outcome)  # fmt: skip
            sent += len(page.events)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    response = StreamingHttpResponse(csv_stream(CSV_HEADER, rows()), content_type="text/csv; charset=utf-8")
    name = slugify(application.name) or f"application-{application.pk}"
    response["Content-Disposition"] = f'attachment; filename="requests-{name}-{timezone.now():%Y%m%d}.csv"'
    response["Cache-Control"] = "no-store"
    return response
