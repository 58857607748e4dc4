"""The usage admin: staff can browse batch records, rollups and quota counters, and change none of them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from analytics.models import IngestedBatch, QuotaUsage, UsageRollup
from analytics.services.ingest import batch_ingest
from tests.conftest import _verified_user
from tests.support.access_log import batch, record
from tests.support.mfa import sign_in_with_totp


@pytest.fixture
def staff_client(db: Any) -> Client:
    user = _verified_user("staffer")
    user.is_staff = user.is_superuser = True
    user.save()
    return sign_in_with_totp(Client(), user)


@pytest.fixture
def usage(gateway: Any, ids: dict[str, Any]) -> None:
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids), record(ids, s=503)]))


@pytest.mark.parametrize(
    "url",
    [
        "/admin/analytics/ingestedbatch/",
        "/admin/analytics/usagerollup/",
        "/admin/analytics/usagerollup/?granularity__exact=hour",
        "/admin/analytics/quotausage/",
        "/admin/analytics/quotausage/?period__exact=d",
    ],
)
def test_staff_browse_usage_lists(staff_client: Client, usage: None, url: str) -> None:
    response = staff_client.get(url)
    assert response.status_code == 200
    assert "Add " not in response.content.decode().split("<main", 1)[-1].split("</h1>", 1)[0]


def test_rollups_filter_by_application(staff_client: Client, usage: None, application: Any) -> None:
    page = staff_client.get("/admin/analytics/usagerollup/").content.decode()
    assert f"Alice&#x27;s app ({application.pk})" in page
    filtered = staff_client.get(f"/admin/analytics/usagerollup/?application_id={application.pk}")
    assert filtered.context["cl"].result_count == UsageRollup.objects.filter(application_id=application.pk).count()
    assert staff_client.get("/admin/analytics/usagerollup/?application_id=x").context["cl"].result_count == 0


def test_usage_rows_cannot_be_added_changed_or_deleted(staff_client: Client, usage: None) -> None:
    rollup, quota, claimed = UsageRollup.objects.first(), QuotaUsage.objects.first(), IngestedBatch.objects.first()
    assert rollup and quota and claimed
    for model, obj in (("usagerollup", rollup), ("quotausage", quota), ("ingestedbatch", claimed)):
        assert staff_client.get(f"/admin/analytics/{model}/add/").status_code == 403
        assert staff_client.get(f"/admin/analytics/{model}/{obj.pk}/change/").status_code == 200  # view only
        assert staff_client.post(f"/admin/analytics/{model}/{obj.pk}/change/", {}).status_code == 403
        assert staff_client.post(f"/admin/analytics/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    requests_before = rollup.requests
    rollup.refresh_from_db()
    assert rollup.requests == requests_before


def test_non_staff_cannot_see_usage_admin(alice_client: Client) -> None:
    response = alice_client.get("/admin/analytics/usagerollup/", follow=True)
    assert response.redirect_chain[-1][0] == "/"
