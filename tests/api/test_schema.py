"""The OpenAPI document: valid, warning-free and describing every API route."""

from pathlib import Path

import yaml
from django.core.management import call_command

from tests.api.test_access_control import API_ROUTES
from tests.support.routes import PARAMETER


def test_the_schema_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    documented = set(schema["paths"])
    for route, _ in API_ROUTES:
        path = "/" + PARAMETER.sub(r"{\1}", route)  # <int:key_id>, <str:request_id> -> {key_id}, {request_id}
        assert path in documented


def test_the_schema_documents_errors_as_problem_json_and_both_auth_schemes(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert set(schema["components"]["securitySchemes"]) == {"personalAccessToken", "cookieAuth"}
    create = schema["paths"]["/api/v1/applications/{application_id}/keys/"]["post"]["responses"]
    assert set(create) >= {"201", "400", "401", "403", "404", "409", "413", "415"}
    assert list(create["409"]["content"]) == ["application/problem+json"]
    assert "secret" in schema["components"]["schemas"]["IssuedApiKey"]["properties"]
    assert "secret" not in schema["components"]["schemas"]["ApiKey"]["properties"]


def test_the_schema_and_docs_are_served(alice_client) -> None:
    assert alice_client.get("/api/schema/").status_code == 200
    assert alice_client.get("/api/docs/").status_code == 200


def test_the_schema_says_what_the_server_does(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    components, paths = schema["components"]["schemas"], schema["paths"]
    # Bodies that refuse unknown fields say so.
    assert components["ApiKeyCreateRequest"]["additionalProperties"] is False
    # A PATCH states the fields it requires (renaming needs a name), as the server checks them.
    rename = paths["/api/v1/organisations/{organisation_id}/"]["patch"]["requestBody"]["content"]
    rename_schema = rename["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "name" in components[rename_schema]["required"]
    # Filters carry their real types and bounds.
    listing = paths["/api/v1/organisations/{organisation_id}/subscriptions/"]["get"]
    parameters = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert parameters["application"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert parameters["page_size"]["minimum"] == 1 and parameters["page_size"]["maximum"] == 100
    # Answers the server gives are documented: a page past the last, a conflict, throttling with its header.
    assert "404" in listing["responses"]
    revoke = paths["/api/v1/organisations/{organisation_id}/invitations/{invitation_id}/revoke/"]["post"]
    assert "409" in revoke["responses"]
    assert "Retry-After" in revoke["responses"]["429"]["headers"]
    usage = paths["/api/v1/applications/{application_id}/usage/"]["get"]["responses"]["400"]["description"]
    assert "`from` must be before `to`" in usage
