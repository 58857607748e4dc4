"""Subscriptions: subscribe an application to a plan, list and filter, change plan, cancel."""

from portal.models import Subscription
from portal.services.applications import subscription_create
from tests.api.conftest import assert_problem
from tests.factories import ApiFactory, ApplicationFactory, PlanFactory


def test_subscribing_to_a_free_plan_is_active_at_once(bob_api, application, free_plan) -> None:
    response = bob_api.post(
        f"/api/v1/applications/{application.pk}/subscriptions/", {"plan": free_plan.pk}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["api"], body["plan"]["slug"]) == ("active", "weather", "free")


def test_subscribing_to_a_plan_that_needs_approval_is_pending(alice_api, application, pro_plan) -> None:
    response = alice_api.post(
        f"/api/v1/applications/{application.pk}/subscriptions/", {"plan": pro_plan.pk}, format="json"
    )
    assert response.status_code == 201 and response.json()["status"] == "pending"


def test_a_second_subscription_to_the_same_api_is_a_conflict(alice_api, application, subscription, pro_plan) -> None:
    response = alice_api.post(
        f"/api/v1/applications/{application.pk}/subscriptions/", {"plan": pro_plan.pk}, format="json"
    )
    assert_problem(response, 409)


def test_an_unknown_or_hidden_plan_is_a_field_error(alice_api, application, api) -> None:
    hidden = PlanFactory(api=api, is_public=False)
    url = f"/api/v1/applications/{application.pk}/subscriptions/"
    for plan in (hidden.pk, 10**6, 2**63 - 1):
        body = assert_problem(alice_api.post(url, {"plan": plan}, format="json"), 400)
        assert list(body["errors"]) == ["plan"]
    assert_problem(alice_api.post(url, {"plan": 2**64}, format="json"), 400)
    assert not Subscription.objects.exists()


def test_a_subscription_cannot_be_created_active_by_asking(alice_api, application, pro_plan) -> None:
    url = f"/api/v1/applications/{application.pk}/subscriptions/"
    body = assert_problem(alice_api.post(url, {"plan": pro_plan.pk, "status": "active"}, format="json"), 400)
    assert body["errors"] == {"status": ["Unknown field."]}


def test_subscription_lists_filter_by_api_and_status(
    alice_api, org, alice, application, subscription, django_assert_max_num_queries
) -> None:
    for number in range(5):
        plan = PlanFactory(api=ApiFactory(), requires_approval=number % 2 == 0)
        subscription_create(actor=alice, application=ApplicationFactory(organisation=org), plan=plan)
    url = f"/api/v1/organisations/{org.pk}/subscriptions/"
    with django_assert_max_num_queries(3):
        everything = alice_api.get(url).json()
    assert everything["count"] == 6
    assert alice_api.get(url, {"status": "pending"}).json()["count"] == 3
    assert [s["id"] for s in alice_api.get(url, {"api": "weather"}).json()["results"]] == [subscription.pk]
    by_app = alice_api.get(url, {"application": application.pk}).json()
    assert [s["id"] for s in by_app["results"]] == [subscription.pk]
    with django_assert_max_num_queries(4):
        per_app = alice_api.get(f"/api/v1/applications/{application.pk}/subscriptions/", {"status": "active"})
    assert per_app.json()["count"] == 1


def test_an_invalid_filter_value_is_a_400(alice_api, org) -> None:
    body = assert_problem(alice_api.get(f"/api/v1/organisations/{org.pk}/subscriptions/", {"status": "gone"}), 400)
    assert "status" in body["errors"]


def test_changing_to_a_plan_that_needs_approval_is_a_request_the_current_plan_serves_until(
    bob_api, subscription, pro_plan
) -> None:
    response = bob_api.patch(f"/api/v1/subscriptions/{subscription.pk}/", {"plan": pro_plan.pk}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["plan"]["slug"], body["status"], body["requested_plan"]["slug"]) == ("free", "active", "pro")
    assert body["plan_requested_at"] is not None


def test_a_plan_of_another_api_is_refused(alice_api, subscription) -> None:
    other = PlanFactory(api=ApiFactory())
    response = alice_api.patch(f"/api/v1/subscriptions/{subscription.pk}/", {"plan": other.pk}, format="json")
    assert list(assert_problem(response, 400)["errors"]) == ["plan"]


def test_cancelling_keeps_the_subscription_on_record(alice_api, subscription, free_plan) -> None:
    response = alice_api.post(f"/api/v1/subscriptions/{subscription.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert alice_api.get(f"/api/v1/subscriptions/{subscription.pk}/").json()["status"] == "cancelled"
    changed = alice_api.patch(f"/api/v1/subscriptions/{subscription.pk}/", {"plan": free_plan.pk}, format="json")
    assert_problem(changed, 409)
