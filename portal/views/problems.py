"""Public pages explaining each problem type, so a `type` in a problem+json answer leads somewhere useful."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.problem_pages import PROBLEM_PAGES


@require_GET
def problem_list(request: HttpRequest) -> HttpResponse:
    pages = sorted(PROBLEM_PAGES.values(), key=lambda page: (page.where, page.status, page.slug))
    return render(request, "portal/problem_list.html", {"pages": pages})


@require_GET
def problem_detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = PROBLEM_PAGES.get(slug)
    if page is None:
        raise Http404
    return render(request, "portal/problem_detail.html", {"page": page})
