"""Plans staff create in the admin: limits that contradict each other are refused, new plans start unpublished."""

import pytest
from django.core.exceptions import ValidationError

from gateway_sync.snapshot import build_snapshot
from portal.models import Plan


def _plan_form(api, **overrides):
    form = {
        "api": api.pk,
        "name": "Gold",
        "slug": "gold",
        "description": "",
        "rate_per_second": "5",
        "rate_per_minute": "100",
        "quota_per_day": "1000",
        "quota_per_month": "20000",
        "price_label": "$9",
        "display_order": "3",
        "store_failure_mode": "allow",
        "quota_scope": "application",
        "rate_scope": "key",
    }
    return {**form, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"rate_per_second": "0"}, "rate_per_second", "greater than or equal to 1"),
        ({"quota_per_month": "0"}, "quota_per_month", "greater than or equal to 1"),
        ({"rate_per_second": "200"}, "rate_per_second", "more than the 100 per minute allows"),
        ({"quota_per_day": "50000"}, "quota_per_day", "more than the monthly quota of 20000"),
        ({"quota_scope": "galaxy"}, "quota_scope", "not one of the available choices"),
        ({"rate_scope": "application"}, "rate_scope", "not one of the available choices"),
        ({"test_rate_per_second": "500"}, "test_rate_per_second", "Test keys would get 500 per second"),
        ({"test_quota_per_day": "30000"}, "test_quota_per_day", "a monthly one of 20000"),
        ({"test_quota_per_month": "0"}, "test_quota_per_month", "greater than or equal to 1"),
    ],
)
def test_contradictory_limits_are_refused_with_a_message_on_the_field(staff_client, api, overrides, field, message):
    page = staff_client.post("/admin/portal/plan/add/", _plan_form(api, **overrides))
    assert page.status_code == 200  # the form again, not a redirect
    assert message in str(page.context["adminform"].form.errors[field])
    assert not Plan.objects.filter(slug="gold").exists()


def test_a_new_plan_starts_unpublished_and_is_offered_once_published(staff_client, api, alice_client):
    assert staff_client.post("/admin/portal/plan/add/", _plan_form(api)).status_code == 302
    plan = Plan.objects.get(slug="gold")
    assert plan.is_public is False
    assert "Gold" not in alice_client.get(f"/catalog/{api.slug}/").content.decode()
    staff_client.post(f"/admin/portal/plan/{plan.pk}/change/", _plan_form(api, is_public="on"))
    assert "Gold" in alice_client.get(f"/catalog/{api.slug}/").content.decode()


def test_a_plans_test_limits_default_to_the_live_ones_and_reach_the_snapshot(staff_client, api):
    """Issue #15: empty test limits are null in the snapshot (the gateway then applies the live limit)."""
    form = _plan_form(api, test_quota_per_day="10")
    assert staff_client.post("/admin/portal/plan/add/", form).status_code == 302
    plan = Plan.objects.get(slug="gold")
    entry = next(p for p in build_snapshot(version=1)["plans"] if p["id"] == plan.pk)
    test_limits = (entry["test_quota_per_day"], entry["test_quota_per_month"], entry["test_rate_per_second"])
    assert test_limits == (10, None, None)


def test_an_apis_sandbox_upstream_is_optional_and_http_only(staff_client, api):
    page = staff_client.get(f"/admin/portal/api/{api.pk}/change/").content.decode()
    assert 'name="sandbox_upstream_url"' in page
    assert next(a for a in build_snapshot(version=1)["apis"] if a["id"] == api.pk)["sandbox_upstream_url"] is None
    api.sandbox_upstream_url = "ftp://sandbox.example.com/"
    with pytest.raises(ValidationError) as refused:
        api.full_clean()
    assert "sandbox_upstream_url" in refused.value.message_dict
    api.sandbox_upstream_url = "http://127.0.0.1:9100/v1"
    api.full_clean()
    api.save()
    assert next(a for a in build_snapshot(version=1)["apis"] if a["id"] == api.pk)["sandbox_upstream_url"] == (
        "http://127.0.0.1:9100/v1"
    )
