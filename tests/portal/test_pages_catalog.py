"""The API catalog: list and search, the plan comparison table, the rendered OpenAPI document, subscribing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portal.models import Api, Subscription
from portal.templatetags.openapi import read_document
from tests.factories import ApiFactory, PlanFactory
from tests.portal.pages_helpers import htmx_get, text

PETSTORE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Pets", "version": "1.2.0", "description": "Adopt <b>pets</b>."},
    "tags": [{"name": "pets", "description": "Everything about pets"}],
    "paths": {
        "/pets/{petId}": {
            "parameters": [{"$ref": "#/components/parameters/PetId"}],
            "get": {
                "tags": ["pets"],
                "summary": "Find a pet",
                "parameters": [
                    {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}
                ],
                "responses": {
                    "200": {"$ref": "#/components/responses/Pet"},
                    "404": {"description": "No such pet"},
                },
            },
            "delete": {"tags": ["pets"], "deprecated": True, "responses": {"204": {"description": "Gone"}}},
        },
        "/pets": {
            "post": {
                "tags": ["pets"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                },
                "responses": {"201": {"description": "Created"}},
            }
        },
    },
    "components": {
        "parameters": {"PetId": {"name": "petId", "in": "path", "schema": {"type": "integer", "format": "int64"}}},
        "responses": {
            "Pet": {
                "description": "The pet",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
            }
        },
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "<script>alert(1)</script>"},
                    "kind": {"type": "string", "enum": ["cat", "dog"]},
                    "owner": {"oneOf": [{"$ref": "#/components/schemas/Person"}, {"type": "null"}]},
                },
            },
            "Person": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    },
}


def test_the_catalog_lists_public_apis_to_everyone(db: Any, api: Any, free_plan: Any) -> None:
    ApiFactory(name="Secret", slug="secret", visibility=Api.Visibility.PRIVATE)
    page = text(Client().get("/catalog/"))
    assert "Weather" in page and "1 plan" in page and "Secret" not in page
    assert Client().get("/catalog/secret/").status_code == 404


def test_searching_the_catalog_with_htmx_returns_only_the_list(alice_client: Client, api: Any) -> None:
    ApiFactory(name="Payments", slug="payments")
    response = htmx_get(alice_client, "/catalog/?q=weath")
    page = text(response)
    assert page.startswith('<div id="api-list">') and "Weather" in page and "Payments" not in page
    assert "No APIs match" in text(alice_client.get("/catalog/?q=zzz"))


def test_the_api_page_compares_plans(alice_client: Client, api: Any, free_plan: Any, pro_plan: Any) -> None:
    PlanFactory(
        api=api,
        name="Unlimited",
        slug="unlimited",
        display_order=3,
        rate_per_second=None,
        rate_per_minute=None,
        quota_per_day=None,
        quota_per_month=None,
        price_label="$999",
    )
    PlanFactory(api=api, name="Hidden", slug="hidden", is_public=False)
    response = alice_client.get(f"/catalog/{api.slug}/")
    page = text(response)
    assert [p.name for p in response.context["plans"]] == ["Free", "Pro", "Unlimited"]
    assert "Hidden" not in page
    assert "100,000" in page and "Needs approval" in page and "Instant" in page
    assert "Unlimited</td>" in page and "$999" in page


def test_the_api_page_renders_the_openapi_document_escaped(alice_client: Client, api: Any) -> None:
    Api.objects.filter(pk=api.pk).update(openapi_document=PETSTORE)
    page = text(alice_client.get(f"/catalog/{api.slug}/"))
    assert "/pets/{petId}" in page and "Find a pet" in page and "No such pet" in page
    assert "integer (int64)" in page and "array of string" in page and "Person | null" in page
    assert "Adopt &lt;b&gt;pets&lt;/b&gt;." in page and "<script>alert(1)" not in page
    assert 'id="op-get-pets-petid"' in page and "deprecated" in page


def test_an_api_without_a_document_says_so(alice_client: Client, api: Any) -> None:
    assert "No reference documentation yet" in text(alice_client.get(f"/catalog/{api.slug}/"))


def test_the_openapi_reader_resolves_references_and_groups_by_tag() -> None:
    doc = read_document(PETSTORE)
    assert doc is not None and doc.title == "Pets" and doc.operation_count == 3
    [group] = doc.groups
    assert group.name == "pets" and group.description == "Everything about pets"
    get = group.operations[0]
    assert [(p.name, p.location, p.required) for p in get.parameters] == [
        ("petId", "path", True),
        ("fields", "query", False),
    ]
    assert [(r.status, r.content[0].type if r.content else None) for r in get.responses] == [
        ("200", "Pet"),
        ("404", None),
    ]
    post = group.operations[2]
    assert post.request_body_required and post.request_body[0].type == "Pet"
    assert [s.name for s in doc.schemas] == ["Pet", "Person"]
    assert [(p.name, p.required) for p in doc.schemas[0].properties][:2] == [("name", True), ("kind", False)]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "not json",
        [],
        {"paths": "nope"},
        {"paths": {"/a": {"get": {"parameters": "x", "responses": ["200"]}}}},
        {"paths": {"/a": {"$ref": "#/paths/~1a"}}},  # a reference loop
        {"paths": {"/a": {"get": {"responses": {"200": {"$ref": "https://evil.example/x.json"}}}}}},
        {"components": {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}, "info": {"title": 5}},
    ],
)
def test_the_openapi_reader_survives_malformed_documents(raw: Any) -> None:
    read_document(raw)  # never raises


def test_subscribing_from_the_api_page(alice_client: Client, application: Any, api: Any, free_plan: Any) -> None:
    response = alice_client.post(
        f"/catalog/{api.slug}/subscribe/", {"application": application.pk, "plan": free_plan.pk}
    )
    assert response["Location"] == f"/applications/{application.pk}/"
    assert Subscription.objects.get(application=application, api=api).status == Subscription.Status.ACTIVE


def test_subscribing_twice_re_renders_the_api_page_with_the_reason(
    alice_client: Client, application: Any, subscription: Any, api: Any, pro_plan: Any
) -> None:
    response = alice_client.post(
        f"/catalog/{api.slug}/subscribe/", {"application": application.pk, "plan": pro_plan.pk}
    )
    assert response.status_code == 200 and "Already subscribed to this API." in text(response)


def test_charlie_cannot_subscribe_alices_application(
    charlie_client: Client, charlie_application: Any, application: Any, api: Any, free_plan: Any
) -> None:
    response = charlie_client.post(
        f"/catalog/{api.slug}/subscribe/", {"application": application.pk, "plan": free_plan.pk}
    )
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    assert not Subscription.objects.filter(application=application).exists()


def test_visitors_are_invited_to_sign_in_to_subscribe(db: Any, api: Any, free_plan: Any) -> None:
    page = text(Client().get(f"/catalog/{api.slug}/"))
    assert "Sign in to subscribe" in page
    assert Client().post(f"/catalog/{api.slug}/subscribe/", {}).status_code == 302


def test_a_history_restore_request_gets_the_full_page(alice_client: Client, api: Any) -> None:
    response = htmx_get(alice_client, "/catalog/?q=weath", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert text(response).startswith("<!doctype html>")
    assert "HX-Request" in response["Vary"]


def test_creating_an_application_from_an_api_page_returns_there_to_subscribe(
    alice: Any, free_plan: Any, api: Any
) -> None:
    from portal.models import Application
    from portal.services.organisations import organisation_ensure_personal

    organisation_ensure_personal(user=alice)
    client = Client()
    client.force_login(alice)
    page = text(client.get(f"/catalog/{api.slug}/"))
    import html
    import re

    create = html.unescape(re.search(r'href="([^"]*/applications/new/[^"]*)">Create an application', page).group(1))
    assert create.endswith("?next=/catalog/weather/%23subscribe")
    assert "New application" in text(client.get(create))  # the form itself, not the list
    response = client.post(create, {"name": "Weather bot"})
    assert response["Location"] == "/catalog/weather/#subscribe"
    assert Application.objects.filter(name="Weather bot", organisation__memberships__user=alice).exists()
    assert "Weather bot" in text(client.get("/catalog/weather/"))  # offered in the subscribe form


def test_an_application_form_ignores_a_next_that_leaves_the_site(alice: Any, alice_client: Client, org: Any) -> None:
    response = alice_client.post(f"/orgs/{org.pk}/applications/new/?next=https://evil.example/", {"name": "App"})
    assert response["Location"].startswith("/applications/")


def test_the_api_page_shows_the_gateway_url_and_a_first_request(alice_client: Client, api: Any) -> None:
    page = text(alice_client.get(f"/catalog/{api.slug}/"))
    assert "<code>http://127.0.0.1:8080/weather</code>" in page
    assert 'curl -H "X-API-Key: $PORTICO_KEY" http://127.0.0.1:8080/weather/' in page
    assert "export PORTICO_KEY=" in page  # the variable the command uses is set right above it


def test_every_way_to_make_a_key_has_the_same_name(alice_client: Client, application: Any, subscription: Any) -> None:
    page = text(alice_client.get(f"/applications/{application.pk}/"))
    import re

    labels = set(re.findall(rf'href="/applications/{application.pk}/keys/new/">([^<]+)<', page))
    assert labels == {"New API key"}


def test_the_plan_table_says_how_bursts_pass(alice_client: Client, api: Any) -> None:
    PlanFactory(api=api, name="Burst", slug="burst", rate_per_second=3, rate_per_minute=100)
    page = text(alice_client.get(f"/catalog/{api.slug}/"))
    assert "Up to 3 at once, then one every 0.333 s (3 per second on average)" in page
    assert "up to 100 at once, then one every 0.6 s (100 per minute on average)" in page
