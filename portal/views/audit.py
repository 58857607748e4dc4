"""The organisation's audit log, for owners and admins: who did what, from where, when."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from portal.forms import AuditFilterForm
from portal.selectors import audit_events_for
from portal.views.common import organisation_membership, portal_view, render_page

PAGE_SIZE = 25


@portal_view
def audit_log(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """Newest first, filterable by action; htmx swaps only the table when the filter or page changes."""
    membership = organisation_membership(request, organisation_id)
    events = audit_events_for(membership=membership)  # PermissionDenied (403) for plain members
    actions = sorted(set(events.order_by().values_list("action", flat=True).distinct()))
    # Filter by the raw value: an action that never happened (or a typo in the URL) simply matches nothing.
    action = request.GET.get("action", "")[:60]
    form = AuditFilterForm(initial={"action": action}, actions=actions)
    if action:
        events = events.filter(action=action)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "portal/audit_log.html",
        {"membership": membership, "form": form, "page": page, "action": action},
        partial="portal/partials/audit_table.html",
    )
