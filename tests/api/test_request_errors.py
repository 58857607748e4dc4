"""Hostile or sloppy requests get the right 4xx problem+json, never a 500."""

import json

import pytest

from portal.models import Application
from tests.api.conftest import assert_problem


@pytest.fixture
def url(org) -> str:
    return f"/api/v1/organisations/{org.pk}/applications/"


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"name": "x",}', b"\xff\xfe", b'{"name": NaN}', b"[" * 100_000, b'{"a":' * 50_000],
    ids=["truncated", "trailing-comma", "not-utf8", "nan", "deep-array", "deep-object"],
)
def test_malformed_json_is_a_400(alice_api, url, raw) -> None:
    body = assert_problem(alice_api.post(url, raw, content_type="application/json"), 400)
    assert body["type"].endswith("parse-error")


@pytest.mark.parametrize("payload", [[], "name", 42, None, [{"name": "x"}]])
def test_a_body_that_is_not_an_object_is_a_400(alice_api, url, payload) -> None:
    response = alice_api.post(url, json.dumps(payload), content_type="application/json")
    assert "non_field_errors" in assert_problem(response, 400)["errors"]


@pytest.mark.parametrize("name", [42, 4.2, True, ["x"], {"x": 1}, None])
def test_wrong_types_are_field_errors(alice_api, url, name) -> None:
    assert list(assert_problem(alice_api.post(url, {"name": name}, format="json"), 400)["errors"]) == ["name"]


@pytest.mark.parametrize(
    "shape",
    [str, float, lambda pk: True, lambda pk: [pk], lambda pk: None],
    ids=["string", "float", "bool", "list", "null"],
)
def test_an_id_must_be_a_json_integer(alice_api, application, free_plan, shape) -> None:
    url = f"/api/v1/applications/{application.pk}/subscriptions/"
    response = alice_api.post(url, {"plan": shape(free_plan.pk)}, format="json")
    assert list(assert_problem(response, 400)["errors"]) == ["plan"]


def test_unknown_fields_are_rejected_not_ignored(alice_api, url) -> None:
    response = alice_api.post(url, {"name": "x", "is_staff": True, "created_by": 1}, format="json")
    assert assert_problem(response, 400)["errors"] == {"is_staff": ["Unknown field."], "created_by": ["Unknown field."]}
    assert not Application.objects.exists()


def test_a_thousand_and_one_fields_are_a_bounded_400(alice_api, url) -> None:
    payload = {f"field{number}": number for number in range(1001)} | {"name": "x"}
    body = assert_problem(alice_api.post(url, payload, format="json"), 400)
    assert len(body["errors"]) == 20


def test_a_body_over_the_upload_limit_is_a_413(alice_api, url, settings) -> None:
    payload = json.dumps({"name": "x", "description": "a" * (3 * 1024 * 1024)})
    assert len(payload) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = alice_api.post(url, payload, content_type="application/json")
    assert_problem(response, 413)
    assert response["Allow"], "answered by the DRF view itself, not by Django's fallback handler400"
    assert not Application.objects.exists()
    assert_problem(alice_api.patch("/api/v1/organisations/1/", payload, content_type="application/json"), 404)


def test_a_body_over_the_upload_limit_is_a_413_for_token_clients_too(alice_pat, url) -> None:
    payload = json.dumps({"name": "x", "description": "a" * (3 * 1024 * 1024)})
    assert_problem(alice_pat.post(url, payload, content_type="application/json"), 413)


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "application/xml"],
)
def test_a_body_that_is_not_json_is_a_415(alice_api, url, content_type) -> None:
    assert_problem(alice_api.post(url, "name=x", content_type=content_type), 415)


@pytest.mark.parametrize("method", ["put", "options", "trace"])
def test_an_unsupported_verb_is_a_405(alice_api, url, method) -> None:
    response = alice_api.generic(method.upper(), url, "{}", content_type="application/json")
    assert_problem(response, 405)
    assert response["Allow"] == "GET, HEAD, POST"


def test_delete_on_a_collection_is_a_405(alice_api, url) -> None:
    assert_problem(alice_api.delete(url), 405)


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_nul_byte_in_a_string_is_a_400(alice_api, url, field) -> None:
    payload = {"name": "ok", field: "bad\x00value"}
    assert list(assert_problem(alice_api.post(url, payload, format="json"), 400)["errors"]) == [field]


def test_a_nul_byte_in_a_filter_or_list_item_is_a_400(alice_api, org, application, subscription) -> None:
    response = alice_api.get(f"/api/v1/organisations/{org.pk}/subscriptions/", {"api": "weather\x00"})
    assert "api" in assert_problem(response, 400)["errors"]
    key_url = f"/api/v1/applications/{application.pk}/keys/"
    response = alice_api.post(key_url, {"name": "x", "allowed_cidrs": ["10.0.0.1\x00"]}, format="json")
    assert "allowed_cidrs" in assert_problem(response, 400)["errors"]


def test_an_absurd_page_is_a_404_problem_and_a_bad_page_size_is_a_400(alice_api, url) -> None:
    assert_problem(alice_api.get(url, {"page": 99}), 404)
    assert "page_size" in assert_problem(alice_api.get(url, {"page_size": "lots"}), 400)["errors"]


def test_a_model_validation_error_escaping_a_service_is_still_a_400() -> None:
    from django.core.exceptions import ValidationError

    from foundation.errors.api import problem_exception_handler

    response = problem_exception_handler(ValidationError({"name": ["Too long."]}), {})
    assert response is not None and response.status_code == 400
    assert json.loads(response.content)["errors"] == {"name": ["Too long."]}


def test_errors_of_list_items_keep_the_fields_name_and_say_which_item(alice_api, application, subscription) -> None:
    body = alice_api.post(
        f"/api/v1/applications/{application.pk}/keys/",
        {"name": "x", "apis": ["weather", "no such slug!", "x" * 61]},
        format="json",
    )
    errors = assert_problem(body, 400)["errors"]
    assert list(errors) == ["apis"]  # {"field": ["message", …]} as the schema says, never nested
    assert all(isinstance(message, str) for message in errors["apis"])
    assert errors["apis"][0].startswith("Item 1: ") and errors["apis"][-1].startswith("Item 2: ")
