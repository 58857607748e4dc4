"""The dashboard and the organisation switcher."""

from __future__ import annotations

from typing import Any

from django.test import Client

from portal.models import Membership, Organisation
from portal.services.applications import application_create, subscription_create
from portal.services.organisations import organisation_create
from tests.portal.pages_helpers import text, unique_email, verified_user


def test_the_dashboard_lists_applications_with_key_counts_and_pending_approvals(
    alice_client: Client, application: Any, api_key: Any, pro_plan: Any, alice: Any
) -> None:
    subscription_create(actor=alice, application=_second_app(alice, application), plan=pro_plan)  # needs approval
    response = alice_client.get("/")
    page = text(response)
    assert response.status_code == 200
    assert "Alice&#x27;s app" in page and "Second app" in page
    [row] = [r for r in response.context["applications"] if r.pk == application.pk]
    assert row.key_count == 1 and row.subscription_count == 1
    assert response.context["key_total"] == 1
    assert [s.application.name for s in response.context["pending_subscriptions"]] == ["Second app"]


def _second_app(alice: Any, application: Any) -> Any:
    membership = Membership.objects.get(user=alice, organisation=application.organisation)
    return application_create(membership=membership, name="Second app")


def test_a_new_organisation_starts_with_an_empty_state(alice: Any, alice_client: Client) -> None:
    team = organisation_create(user=alice, name="Empty team")
    alice_client.post(f"/orgs/{team.pk}/switch/")
    page = text(alice_client.get("/"))
    assert "Empty team" in page and "No applications yet" in page and "Nothing is waiting for approval." in page


def test_switching_organisation_changes_the_dashboard_and_the_navigation(
    alice: Any, alice_client: Client, application: Any
) -> None:
    team = organisation_create(user=alice, name="Beta team")
    response = alice_client.post(f"/orgs/{team.pk}/switch/", {"next": "/catalog/"})
    assert response.status_code == 302 and response["Location"] == "/catalog/"
    response = alice_client.get("/")
    assert response.context["membership"].organisation == team
    assert f'href="/orgs/{team.pk}/members/"' in text(response)
    assert "Alice&#x27;s app" not in text(response)


def test_switching_refuses_an_open_redirect(alice_client: Client, org: Any) -> None:
    response = alice_client.post(f"/orgs/{org.pk}/switch/", {"next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_a_user_without_any_organisation_is_offered_to_create_one(db: Any) -> None:
    user = verified_user(unique_email("lonely"))
    client = Client()
    client.force_login(user)
    page = text(client.get("/"))
    assert "Create an organisation" in page
    assert not Organisation.objects.for_user(user).exists()
