"""Every date and time a client can send is range-checked: the calendar's ends answer 400 with the accepted range.

The parameters come from the served schema, so a new date parameter or body field is swept without anyone
remembering to add it here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.api.conftest import assert_problem

EDGES = [
    "0001-01-01T00:00:00+01:00",  # becomes year 0 in UTC
    "9999-12-31T23:59:59-00:01",  # becomes year 10000 in UTC
    "9999-12-31T23:59:59Z",  # snapping to the next bucket overflows
    "1969-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
]


def _date_inputs() -> list[tuple[str, str, str, str]]:
    """(method, path, "query" | "body", name) for every date-time input of the served schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter.get("schema", {}).get("format") == "date-time":
                    found.append((method, path, "query", parameter["name"]))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media["schema"].get("$ref", "")
                properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                for name, spec in properties.items():
                    if spec.get("format") == "date-time" and not spec.get("readOnly"):
                        found.append((method, path, "body", name))
    return sorted(set(found))


DATE_INPUTS = _date_inputs()


def test_the_sweep_finds_the_date_inputs_we_know_of() -> None:
    assert ("get", "/api/v1/applications/{application_id}/usage/", "query", "to") in DATE_INPUTS
    assert ("get", "/api/v1/organisations/{organisation_id}/audit-events/", "query", "until") in DATE_INPUTS
    assert ("post", "/api/v1/applications/{application_id}/keys/", "body", "expires_at") in DATE_INPUTS


@pytest.mark.parametrize(("method", "path", "where", "name"), DATE_INPUTS)
def test_dates_at_the_calendars_ends_are_a_400_naming_the_accepted_range(
    alice_api: APIClient, org: Any, application: Any, api_key: Any, api: Any, method, path, where, name
) -> None:
    url = path.format(organisation_id=org.pk, application_id=application.pk, key_id=api_key[0].pk, slug=api.slug)
    for value in EDGES:
        if where == "query":
            response = alice_api.generic(method.upper(), url, QUERY_STRING=urlencode({name: value}))
        else:
            response = getattr(alice_api, method)(url, {"name": "edge", name: value}, format="json")
        body = assert_problem(response, 400)
        assert "1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z" in str(body["errors"][name]), (value, body)
    if where == "query":
        empty = alice_api.generic(method.upper(), url, QUERY_STRING=f"{name}=")
        assert name in assert_problem(empty, 400)["errors"]


def test_any_query_parameter_given_empty_is_refused_not_defaulted(alice_api, application) -> None:
    url = f"/api/v1/applications/{application.pk}/usage/"
    assert "granularity" in assert_problem(alice_api.get(url, {"granularity": ""}), 400)["errors"]
