"""/api/v1/organisations/{id}/applications/ and /api/v1/applications/{id}/: members create and edit, managers delete."""

from keys.models import ApiKey
from portal.models import Application, Subscription
from tests.api.conftest import assert_problem
from tests.factories import ApplicationFactory


def test_a_member_creates_an_application(bob_api, org, bob) -> None:
    response = bob_api.post(
        f"/api/v1/organisations/{org.pk}/applications/", {"name": "Bob's bot", "description": "Nightly"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["description"], body["organisation"]) == ("Bob's bot", "Nightly", org.pk)
    assert Application.objects.get(pk=body["id"]).created_by == bob


def test_an_application_cannot_be_created_in_another_organisation_by_naming_it(alice_api, org, charlie_org) -> None:
    response = alice_api.post(
        f"/api/v1/organisations/{org.pk}/applications/", {"name": "x", "organisation": charlie_org.pk}, format="json"
    )
    assert assert_problem(response, 400)["errors"] == {"organisation": ["Unknown field."]}
    assert not Application.objects.filter(organisation=charlie_org).exists()


def test_the_application_list_has_a_fixed_query_count(bob_api, org, django_assert_max_num_queries) -> None:
    for _ in range(6):
        ApplicationFactory(organisation=org)
    with django_assert_max_num_queries(3):
        response = bob_api.get(f"/api/v1/organisations/{org.pk}/applications/")
    assert response.json()["count"] == 6


def test_the_application_list_is_paginated_with_a_maximum_page_size(alice_api, org, settings) -> None:
    for _ in range(3):
        ApplicationFactory(organisation=org)
    first = alice_api.get(f"/api/v1/organisations/{org.pk}/applications/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"] is not None
    most = alice_api.get(f"/api/v1/organisations/{org.pk}/applications/", {"page_size": 100}).json()
    assert len(most["results"]) == 3
    for wrong in (10**9, 0, -1, "1e3", "null", "\uff11\uff12", ""):  # the last but one: full-width "12"
        answer = alice_api.get(f"/api/v1/organisations/{org.pk}/applications/", {"page_size": wrong})
        assert "1 to 100" in assert_problem(answer, 400)["errors"]["page_size"][0], wrong


def test_an_admin_renames_an_application(alice_api, application) -> None:
    response = alice_api.patch(f"/api/v1/applications/{application.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed" and response.json()["description"] == application.description


def test_a_plain_member_cannot_rename_an_application(bob_api, application) -> None:
    response = bob_api.patch(f"/api/v1/applications/{application.pk}/", {"name": "Renamed"}, format="json")
    assert_problem(response, 403)
    application.refresh_from_db()
    assert application.name != "Renamed"


def test_an_empty_patch_changes_nothing(alice_api, application) -> None:
    response = alice_api.patch(f"/api/v1/applications/{application.pk}/", {}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Alice's app"


def test_a_member_cannot_delete_an_application(bob_api, application) -> None:
    assert_problem(bob_api.delete(f"/api/v1/applications/{application.pk}/"), 403)
    assert Application.objects.filter(pk=application.pk).exists()


def test_the_owner_deletes_an_application_and_its_keys_stop(alice_api, application, api_key) -> None:
    key, _ = api_key
    assert alice_api.delete(f"/api/v1/applications/{application.pk}/").status_code == 204
    assert not Application.objects.filter(pk=application.pk).exists()
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert not Subscription.objects.filter(application_id=application.pk).exists()
    assert_problem(alice_api.get(f"/api/v1/applications/{application.pk}/"), 404)


def test_my_applications_span_my_organisations_without_an_organisation_id(
    bob_api, org, charlie_org, application, django_assert_max_num_queries
) -> None:
    from portal.models import Membership

    second = ApplicationFactory(organisation=charlie_org, name="Shared lab")
    Membership.objects.create(organisation=charlie_org, user=application.created_by, role="member")  # alice only
    ApplicationFactory(organisation=charlie_org, name="Charlie's secret")
    with django_assert_max_num_queries(3):
        body = bob_api.get("/api/v1/applications/").json()
    assert [a["name"] for a in body["results"]] == ["Alice's app"]  # bob is in alice's org only
    assert second.name not in str(body)
    only = bob_api.get("/api/v1/applications/", {"organisation": charlie_org.pk}).json()
    assert only["count"] == 0
    assert_problem(bob_api.get("/api/v1/applications/", {"organisation": "x"}), 400)


def test_the_api_index_names_the_caller_and_links_where_to_start(bob_api, bob) -> None:
    body = bob_api.get("/api/v1/").json()
    assert body["authenticated_as"] == bob.email
    assert set(body["resources"]) == {"organisations", "applications", "apis", "access_tokens"}
    for url in body["resources"].values():
        assert bob_api.get(url).status_code == 200
