"""Where flags are listed: `GET /api/v1/applications/{id}/anomalies/` (any member; others 404), the application's
usage page (its organisation only) and the staff page in the admin (staff with a second factor; read-only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from anomalies.models import Flag
from anomalies.services import anomalies_detect
from keys.services import key_issue
from tests.support.problems import assert_problem


@pytest.fixture
def flags(hour_rollup: Any, hour: Any, api_key: Any, charlie_application: Any, charlie: Any, org: Any) -> list[Flag]:
    """Two flags of alice's key (this hour and the one before) and one of charlie's key."""
    charlies_key, _ = key_issue(actor=charlie, application=charlie_application, name="Charlie key")
    hour_rollup(hour - timedelta(hours=1), 1500)
    hour_rollup(hour, 1200)
    hour_rollup(hour, 1100, key=charlies_key)
    found = anomalies_detect(now=hour + timedelta(minutes=1))
    assert len(found) == 3
    return found


def test_members_list_their_applications_flags_newest_hour_first(
    bob_api, application, flags, hour, api_key, django_assert_max_num_queries
) -> None:
    url = f"/api/v1/applications/{application.pk}/anomalies/"
    with django_assert_max_num_queries(6):
        answer = bob_api.get(url)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [(r["hour"][:13], r["rule"], r["observed"]) for r in results] == [
        (hour.isoformat()[:13], "traffic_spike", 1200),
        ((hour - timedelta(hours=1)).isoformat()[:13], "traffic_spike", 1500),
    ]
    key = api_key[0]
    assert results[0]["key"] == {"id": key.pk, "name": key.name, "prefix": key.prefix}
    assert results[0]["details"] == {"requests": 1200, "baseline_requests": 0.0}
    assert set(results[0]) == {
        "id",
        "rule",
        "hour",
        "key",
        "oauth_client",
        "observed",
        "baseline",
        "details",
        "created_at",
    }


def test_an_outsider_gets_404_and_sees_no_flag(charlie_api, application, flags) -> None:
    problem = assert_problem(charlie_api.get(f"/api/v1/applications/{application.pk}/anomalies/"), 404)
    assert "alice" not in str(problem).lower()


def test_the_usage_page_lists_the_applications_flags_only(alice_client, application, flags, api_key) -> None:
    page = alice_client.get(f"/applications/{application.pk}/usage/")
    assert page.status_code == 200
    html = page.content.decode()
    section = html.split('id="anomaly-flags"', 1)[1].split("</section>", 1)[0]
    assert section.count('id="anomaly-flag-') == 2
    assert "Charlie key" not in html and "1,200 requests; 7-day average for this hour 0" in section
    assert api_key[0].prefix in section


def test_the_usage_page_says_when_nothing_was_flagged(alice_client, application) -> None:
    html = alice_client.get(f"/applications/{application.pk}/usage/").content.decode()
    assert "No anomalies" in html.split('id="anomaly-flags"', 1)[1]


def test_staff_see_every_flag_and_can_change_none(staff_client: Client, flags) -> None:
    page = staff_client.get("/admin/anomalies/flag/")
    assert page.status_code == 200 and page.context["cl"].result_count == 3
    assert staff_client.get("/admin/anomalies/flag/?rule__exact=invalid_key_burst").context["cl"].result_count == 0
    assert staff_client.get("/admin/anomalies/flag/?q=Charlie").context["cl"].result_count == 1
    assert staff_client.get("/admin/anomalies/flag/?q=not-an-address").context["cl"].result_count == 0
    flag = flags[0]
    assert staff_client.get("/admin/anomalies/flag/add/").status_code == 403
    assert staff_client.get(f"/admin/anomalies/flag/{flag.pk}/change/").status_code == 200
    assert staff_client.post(f"/admin/anomalies/flag/{flag.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Flag.objects.count() == 3


def test_developers_cannot_open_the_staff_page(alice_client: Client, flags) -> None:
    response = alice_client.get("/admin/anomalies/flag/", follow=True)
    assert response.redirect_chain[-1][0] == "/"
