"""API4:2023 Unrestricted resource consumption: requests built to cost the server a lot are cheap 4xx answers.

The per-tenant caps (applications, organisations, invitations, members, tokens, live keys) and the per-user
REST throttle are tests/api/test_resource_limits.py; body size and field count tests/api/test_request_errors.py;
the gateway's own limits tests/gateway/. Here: page sizes, nesting, list lengths, huge strings and query strings.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from keys.services import MAX_CIDRS
from tests.support.problems import assert_problem

NESTING = 100_000


@pytest.mark.parametrize("size", [settings.PORTICO_MAX_PAGE_SIZE + 1, 10**9, 2**64, -1, 0])
def test_a_page_larger_than_the_cap_is_a_400(alice_pat, org, size) -> None:
    assert_problem(alice_pat.get(f"/api/v1/organisations/?page_size={size}"), 400)


def test_a_body_nested_a_hundred_thousand_deep_is_a_400(alice_pat, org) -> None:
    body = '{"name": ' + "[" * NESTING + "]" * NESTING + "}"
    response = alice_pat.post(f"/api/v1/organisations/{org.pk}/applications/", body, content_type="application/json")
    assert_problem(response, 400)


def test_more_ip_ranges_than_the_cap_is_a_400(alice_pat, application, subscription) -> None:
    cidrs = [f"10.0.{n // 256}.{n % 256}/32" for n in range(MAX_CIDRS + 1)]
    url = f"/api/v1/applications/{application.pk}/keys/"
    assert_problem(alice_pat.post(url, {"name": "k", "allowed_cidrs": cidrs}, format="json"), 400)
    assert alice_pat.post(url, {"name": "k", "allowed_cidrs": cidrs[:MAX_CIDRS]}, format="json").status_code == 201


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_megabyte_string_is_a_400(alice_pat, org, field) -> None:
    body = {"name": "ok", field: "x" * 1_000_000}
    assert_problem(alice_pat.post(f"/api/v1/organisations/{org.pk}/applications/", body, format="json"), 400)


def test_a_query_string_of_many_thousand_parameters_is_a_400(alice_pat, org) -> None:
    query = "&".join(f"p{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    assert_problem(alice_pat.get(f"/api/v1/organisations/{org.pk}/audit-events/?{query}"), 400)


def test_a_filter_repeated_many_times_is_bounded(alice_pat, org) -> None:
    query = "&".join(["status=active"] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    assert_problem(alice_pat.get(f"/api/v1/organisations/{org.pk}/subscriptions/?{query}"), 400)
