"""The OpenAPI document: valid, warning-free and describing every API route."""

from pathlib import Path

import yaml
from django.core.management import call_command

from tests.api.test_access_control import API_ROUTES


def test_the_schema_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    documented = set(schema["paths"])
    for route, _ in API_ROUTES:
        path = "/" + route.replace("<int:", "{").replace("<slug:", "{").replace(">", "}")
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
