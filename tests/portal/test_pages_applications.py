"""Applications and subscriptions: create, edit, delete, subscribe, change plan, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from keys.models import ApiKey
from keys.services import key_issue
from portal.models import Application, Subscription
from tests.factories import ApiFactory, PlanFactory
from tests.portal.pages_helpers import text


def test_any_member_creates_an_application(bob_client: Client, org: Any) -> None:
    response = bob_client.post(f"/orgs/{org.pk}/applications/new/", {"name": "Bob's bot", "description": "Nightly"})
    application = Application.objects.get(name="Bob's bot")
    assert response["Location"] == f"/applications/{application.pk}/"
    assert application.organisation == org


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "This field is required."),
        ("nul\x00byte", "Null characters are not allowed."),
        ("two\nlines", "Line breaks are not allowed."),
        ("x" * 101, "Ensure this value has at most 100 characters"),
    ],
)
def test_the_application_form_re_renders_with_errors(alice_client: Client, org: Any, name: str, error: str) -> None:
    response = alice_client.post(f"/orgs/{org.pk}/applications/new/", {"name": name})
    assert response.status_code == 200 and error in text(response)
    assert response.context["form"].data["name"] == name  # the input is kept
    assert not Application.objects.filter(organisation=org).exists()


def test_the_application_list_has_an_empty_state(alice_client: Client, org: Any) -> None:
    assert "No applications in Acme" in text(alice_client.get(f"/orgs/{org.pk}/applications/"))
    assert alice_client.get("/applications/")["Location"] == f"/orgs/{org.pk}/applications/"


def test_a_manager_edits_and_deletes_an_application(alice_client: Client, application: Any, api_key: Any) -> None:
    response = alice_client.post(f"/applications/{application.pk}/edit/", {"name": "Renamed", "description": "New"})
    assert response["Location"] == f"/applications/{application.pk}/"
    application.refresh_from_db()
    assert (application.name, application.description) == ("Renamed", "New")
    assert "Delete Renamed?" in text(alice_client.get(f"/applications/{application.pk}/delete/"))
    alice_client.post(f"/applications/{application.pk}/delete/")
    assert not Application.objects.filter(pk=application.pk).exists()


def test_members_do_not_see_the_edit_and_delete_buttons(bob_client: Client, application: Any) -> None:
    page = text(bob_client.get(f"/applications/{application.pk}/"))
    assert f"/applications/{application.pk}/edit/" not in page and f"/applications/{application.pk}/delete/" not in page


def test_subscribing_to_a_plan_that_needs_approval_shows_it_pending(
    alice_client: Client, application: Any, pro_plan: Any
) -> None:
    response = alice_client.post(f"/applications/{application.pk}/subscribe/", {"plan": pro_plan.pk}, follow=True)
    page = text(response)
    assert "is pending approval" in page and "pending approval</span>" in page


def test_the_subscribe_form_offers_only_apis_not_yet_subscribed(
    alice_client: Client, application: Any, subscription: Any
) -> None:
    other = PlanFactory(api=ApiFactory(name="Maps"), name="Basic")
    form = alice_client.get(f"/applications/{application.pk}/").context["subscribe_form"]
    assert list(form.fields["plan"].queryset) == [other]


def test_asking_for_a_plan_needing_approval_keeps_the_current_plan_and_says_so(
    alice_client: Client, application: Any, subscription: Any, pro_plan: Any, free_plan: Any
) -> None:
    url = f"/subscriptions/{subscription.pk}/plan/"
    response = alice_client.post(url, {f"s{subscription.pk}-plan": pro_plan.pk}, follow=True)
    assert "moves to Pro once staff approve it; Free keeps serving your traffic until then." in text(response)
    assert f'id="plan-request-{subscription.pk}"' in text(response)
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.requested_plan, subscription.status) == (free_plan, pro_plan, "active")


def test_changing_to_a_plan_of_another_api_re_renders_the_page_with_an_error(
    alice_client: Client, application: Any, subscription: Any
) -> None:
    foreign_plan = PlanFactory(api=ApiFactory(name="Maps"))
    response = alice_client.post(
        f"/subscriptions/{subscription.pk}/plan/", {f"s{subscription.pk}-plan": foreign_plan.pk}
    )
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    subscription.refresh_from_db()
    assert subscription.plan != foreign_plan


def test_cancelling_a_subscription_after_confirmation(alice_client: Client, subscription: Any) -> None:
    url = f"/subscriptions/{subscription.pk}/cancel/"
    assert "Cancel Weather for" in text(alice_client.get(url))
    alice_client.post(url)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED


def test_the_detail_page_lists_current_and_past_keys(
    alice_client: Client, application: Any, api_key: Any, alice: Any
) -> None:
    revoked, _ = key_issue(actor=alice, application=application, name="Old")
    ApiKey.objects.filter(pk=revoked.pk).update(status=ApiKey.Status.REVOKED)
    response = alice_client.get(f"/applications/{application.pk}/")
    assert [k.name for k in response.context["current_keys"]] == ["Server key"]
    assert [k.name for k in response.context["past_keys"]] == ["Old"]
    assert "1 revoked or expired key" in text(response)


def test_the_detail_page_query_count_does_not_grow_with_keys(
    alice_client: Client,
    application: Any,
    subscription: Any,
    alice: Any,
    django_assert_max_num_queries: Any,
    settings: Any,
) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 20
    key_issue(actor=alice, application=application, name="k0")
    alice_client.get(f"/applications/{application.pk}/")  # warm the session
    with django_assert_max_num_queries(16) as few:
        alice_client.get(f"/applications/{application.pk}/")
    for n in range(1, 8):
        key_issue(actor=alice, application=application, name=f"k{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        alice_client.get(f"/applications/{application.pk}/")


def test_a_non_public_plan_granted_by_staff_stays_selected(alice_client: Client, subscription: Any, api: Any) -> None:
    private = PlanFactory(api=api, name="Partner", is_public=False)
    Subscription.objects.filter(pk=subscription.pk).update(plan=private)
    response = alice_client.get(f"/applications/{subscription.application_id}/")
    [row] = response.context["subscriptions"]
    assert row.plan_form["plan"].value() == private.pk
    assert private in row.plan_form.fields["plan"].queryset


def test_a_subscription_blocked_by_quota_says_so_in_words_on_the_page_and_in_the_api(
    alice_client: Client, alice: Any, application: Any, subscription: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    import time_machine
    from rest_framework.test import APIClient

    from portal.models import Subscription

    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    midnight, first_of_month = datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    api = APIClient()
    api.force_authenticate(alice)
    with time_machine.travel(now, tick=False):
        Subscription.objects.filter(pk=subscription.pk).update(blocked_until=midnight, blocked_reason="quota-day")
        page = text(alice_client.get(f"/applications/{application.pk}/"))
        body = api.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
        assert "Blocked until 00:00 UTC — daily quota used up" in page
        assert 'class="badge badge-danger">blocked<' in page and ">active<" not in page
        assert body["state"] == "blocked"
        assert body["state_description"] == "Blocked until 00:00 UTC — daily quota used up"
        Subscription.objects.filter(pk=subscription.pk).update(
            blocked_until=first_of_month, blocked_reason="quota-month"
        )
        body = api.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
        assert body["state_description"] == "Blocked until 1 Dec 2026 00:00 UTC — monthly quota used up"
    with time_machine.travel(first_of_month + timedelta(minutes=1), tick=False):
        body = api.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
        assert (body["state"], body["state_description"]) == ("active", "Active")  # a block ends by itself
