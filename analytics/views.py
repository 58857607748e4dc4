"""Portal pages of usage: an application's requests over time, totals, latency and quota meters."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from analytics import selectors
from analytics.charts import requests_chart
from analytics.forms import UsagePeriodForm
from portal.selectors import application_get
from portal.views.common import membership_of, portal_view


@portal_view
def application_usage(request: HttpRequest, application_id: int) -> HttpResponse:
    """Usage of one application over the picked period; a bad period shows the default with a notice."""
    application = application_get(user=request.user, application_id=application_id)
    membership = membership_of(request, application.organisation_id)
    form = UsagePeriodForm(request.GET)
    period = form.period_or_default()
    now = timezone.now()
    granularity, start, end = selectors.usage_window(period=period, now=now)
    usage = selectors.usage_for_application(application=application, granularity=granularity, start=start, end=end)
    counts = selectors.usage_by_status_class(application=application, granularity=granularity, start=start, end=end)
    chart = requests_chart(
        granularity=granularity, start=start, end=end, step=selectors.STEP[granularity], counts=counts
    )
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
        "quotas": selectors.quota_states(application=application, now=now),
        "now": now,
    }
    return render(request, "analytics/application_usage.html", context)
