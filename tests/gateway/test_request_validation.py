"""Request validation at the gateway (docs/protection.md): each check refuses with the field's JSON Pointer and the
rule, never the value; report mode passes and logs the finding; APIs without a validator are untouched."""

from __future__ import annotations

import json

import pytest

from tests.support.openapi_docs import pets, validation
from tests.support.snapshots import api_entry, change, key_entry, snapshot, subscription_entry

TENANT = {"X-Tenant": "acme"}  # copied per request: Gateway.request adds the key to the headers it is given
GOOD_PET = {"name": "Rex", "tags": [{"label": "dog"}], "owner": None}


def cause(response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


@pytest.fixture
def key():
    return key_entry()


@pytest.fixture
def gw(start_gateway, upstream, key):
    apis = [
        api_entry(upstream, 1, "/pets-api", methods=["GET", "POST", "DELETE"], validation=validation("enforce")),
        api_entry(upstream, 2, "/plain", methods=["GET", "POST", "DELETE"]),
    ]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    return start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))


def test_a_valid_request_reaches_the_upstream(gw, key):
    listed = gw.get("/pets-api/pets?limit=5&sort=age&since=2026-01-31", key.secret, headers={**TENANT})
    created = gw.request("POST", "/pets-api/pets", key.secret, json=GOOD_PET)
    one = gw.get("/pets-api/pets/12", key.secret)
    mine = gw.get("/pets-api/pets/mine", key.secret)  # a literal segment beats the template

    assert [r.status_code for r in (listed, created, one, mine)] == [200, 200, 200, 200]
    assert created.json()["path"] == "/pets"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "pointer", "rule"),
    [
        ("GET", "/pets", {}, None, "/header/x-tenant", "required"),
        ("GET", "/pets", {"X-Tenant": "far-too-long"}, None, "/header/x-tenant", "maxLength"),
        ("GET", "/pets?limit=abc", TENANT, None, "/query/limit", "type"),
        ("GET", "/pets?limit=1.5", TENANT, None, "/query/limit", "type"),
        ("GET", "/pets?limit=101", TENANT, None, "/query/limit", "maximum"),
        ("GET", "/pets?limit=5&limit=500", TENANT, None, "/query/limit", "maximum"),  # every value of a repeated key
        ("GET", "/pets?limit=0x10", TENANT, None, "/query/limit", "type"),
        ("GET", "/pets?limit=0", TENANT, None, "/query/limit", "minimum"),
        ("GET", "/pets?sort=colour", TENANT, None, "/query/sort", "enum"),
        ("GET", "/pets?since=2026-13-01", TENANT, None, "/query/since", "format"),
        ("GET", "/pets/rex", {}, None, "/path/petId", "type"),
        ("GET", "/pets/99999999999", {}, None, "/path/petId", "format"),
        ("POST", "/pets", {}, "", "/body", "required"),
        ("POST", "/pets", {}, "{not json", "/body", "json"),
        ("POST", "/pets", {}, ["Rex"], "/body", "type"),
        ("POST", "/pets", {}, {"tags": [{"label": "a"}]}, "/body/name", "required"),
        ("POST", "/pets", {}, {**GOOD_PET, "name": 7}, "/body/name", "type"),
        ("POST", "/pets", {}, {**GOOD_PET, "name": ""}, "/body/name", "minLength"),
        ("POST", "/pets", {}, {**GOOD_PET, "name": "Maximilianus"}, "/body/name", "maxLength"),
        ("POST", "/pets", {}, {**GOOD_PET, "age": -1}, "/body/age", "minimum"),
        ("POST", "/pets", {}, {**GOOD_PET, "age": 50}, "/body/age", "exclusiveMaximum"),
        ("POST", "/pets", {}, {**GOOD_PET, "colour": "red"}, "/body/colour", "additionalProperties"),
        ("POST", "/pets", {}, {**GOOD_PET, "tags": []}, "/body/tags", "minItems"),
        ("POST", "/pets", {}, {**GOOD_PET, "tags": [{"label": "a"}] * 4}, "/body/tags", "maxItems"),
        ("POST", "/pets", {}, {**GOOD_PET, "tags": [{"label": "a"}, {"weight": 1}]}, "/body/tags/1/label", "required"),
        ("POST", "/pets", {}, {**GOOD_PET, "tags": [{"label": "toolong"}]}, "/body/tags/0/label", "maxLength"),
        ("POST", "/pets", {}, {**GOOD_PET, "owner": "nobody"}, "/body/owner", "format"),
    ],
)  # fmt: skip
def test_an_invalid_request_is_refused_with_the_field_and_the_rule(gw, key, method, path, headers, body, pointer, rule):
    kw = {"data": body} if isinstance(body, str) else {"json": body} if body is not None else {}
    if isinstance(body, str):
        headers = {**headers, "Content-Type": "application/json"}
    r = gw.request(method, "/pets-api" + path, key.secret, headers={**headers}, **kw)

    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert (cause(r), problem["pointer"], problem["rule"]) == ("request-invalid", pointer, rule)


def test_the_offending_value_is_never_echoed(gw, key):
    secret_value = "s3cr3t-Value"
    r1 = gw.get(f"/pets-api/pets?limit={secret_value}", key.secret, headers={**TENANT})
    r2 = gw.request("POST", "/pets-api/pets", key.secret, json={**GOOD_PET, "name": secret_value * 3})

    assert (r1.status_code, r2.status_code) == (400, 400)
    assert secret_value not in r1.text and secret_value not in r2.text


def test_a_body_that_is_not_json_is_refused_by_its_media_type(gw, key):
    r = gw.request("POST", "/pets-api/pets", key.secret, data="name=Rex", headers={"Content-Type": "text/plain"})

    assert r.status_code == 400
    assert (r.json()["pointer"], r.json()["rule"]) == ("/header/content-type", "media-type")


def test_an_unknown_path_is_404_and_an_undeclared_method_405(gw, key):
    unknown = gw.get("/pets-api/owners", key.secret)
    too_deep = gw.get("/pets-api/pets/1/toys", key.secret)
    wrong_method = gw.request("DELETE", "/pets-api/pets", key.secret)

    assert (unknown.status_code, cause(unknown)) == (404, "unknown-operation")
    assert (too_deep.status_code, cause(too_deep)) == (404, "unknown-operation")
    assert (wrong_method.status_code, cause(wrong_method)) == (405, "method-not-allowed")
    assert wrong_method.headers["Allow"] == "GET, POST"


def test_an_api_without_validation_is_unchanged(gw, key):
    r = gw.request("POST", "/plain/anything?limit=abc", key.secret, data="not json")

    assert r.status_code == 200


def test_a_refused_request_is_logged_as_a_denial(gw, key):
    gw.get("/pets-api/pets?limit=500", key.secret, headers={**TENANT})

    (rec,) = gw.wait_records(1)
    assert (rec["s"], rec["dc"], rec["lim"], rec["api"], rec["sub"]) == (400, "request-invalid", "", 1, 7)
    assert not rec.get("vf")


def test_report_mode_passes_and_logs_the_finding(start_gateway, upstream, key):
    api = api_entry(upstream, 1, "/pets-api", methods=["GET", "POST"], validation=validation("report"))
    gw = start_gateway(snapshot(1, [api], keys=[key]))

    bad = gw.request("POST", "/pets-api/pets", key.secret, json={**GOOD_PET, "tags": [{"label": "toolong"}]})
    unknown = gw.get("/pets-api/owners", key.secret)
    good = gw.get("/pets-api/pets/3", key.secret)
    # a record that needs escaping (log_format portico): a client request id with a quote
    quoted = gw.get("/pets-api/pets/x", key.secret, headers={"X-Request-Id": 'q"1'})

    assert [r.status_code for r in (bad, unknown, good, quoted)] == [200, 200, 200, 200]
    records = {r["p"]: r for r in gw.wait_records(4)}
    assert records["/pets-api/pets"]["vf"] == "request-invalid|POST /pets|maxLength|/body/tags/0/label"
    assert records["/pets-api/owners"]["vf"] == "unknown-operation||path|/path"
    assert "vf" not in records["/pets-api/pets/3"]
    assert records["/pets-api/pets/x"]["vf"] == "request-invalid|GET /pets/{petId}|type|/path/petId"
    assert all(r["lim"] == "ok" and r["dc"] == "" for p, r in records.items() if "dc" in r)


@pytest.mark.parametrize("request_id", [None, 'q"1'], ids=["fast-log-format", "escaped-log-format"])
def test_a_field_name_a_client_chose_is_logged_verbatim_in_either_log_format(start_gateway, upstream, key, request_id):
    api = api_entry(upstream, 1, "/pets-api", methods=["GET", "POST"], validation=validation("report"))
    gw = start_gateway(snapshot(1, [api], keys=[key]))
    headers = {"X-Request-Id": request_id} if request_id else {}

    r = gw.request("POST", "/pets-api/pets", key.secret, headers=headers, json={**GOOD_PET, 'a"b\\c/d': 1})

    assert r.status_code == 200
    (rec,) = gw.wait_records(1)
    assert rec["vf"] == 'request-invalid|POST /pets|additionalProperties|/body/a"b\\c~1d'


def test_switching_the_mode_by_a_change_reaches_the_gateway(start_gateway, upstream, key):
    api = api_entry(upstream, 1, "/pets-api", methods=["GET"])
    gw = start_gateway(snapshot(1, [api], keys=[key]))
    assert gw.get("/pets-api/pets?limit=abc", key.secret, headers={**TENANT}).status_code == 200

    gw.push([change(2, "api", 1, {**api, "validation": validation("enforce")})], 1, 2)
    gw.wait_ready(version=2)
    enforced = gw.get("/pets-api/pets?limit=abc", key.secret, headers={**TENANT})
    gw.push([change(3, "api", 1, api)], 2, 3)
    gw.wait_ready(version=3)
    off_again = gw.get("/pets-api/pets?limit=abc", key.secret, headers={**TENANT})

    assert (enforced.status_code, off_again.status_code) == (400, 200)


def test_a_changed_document_is_enforced_as_changed(start_gateway, upstream, key):
    doc = pets()
    doc["paths"]["/pets"]["get"]["parameters"][0]["schema"]["maximum"] = 10
    api = api_entry(upstream, 1, "/pets-api", methods=["GET"], validation=validation("enforce"))
    gw = start_gateway(snapshot(1, [api], keys=[key]))
    assert gw.get("/pets-api/pets?limit=50", key.secret, headers={**TENANT}).status_code == 200

    gw.push([change(2, "api", 1, {**api, "validation": validation("enforce", doc)})], 1, 2)
    gw.wait_ready(version=2)

    r = gw.get("/pets-api/pets?limit=50", key.secret, headers={**TENANT})
    assert (r.status_code, r.json()["rule"]) == (400, "maximum")
    assert json.loads(r.text)["operation"] == "GET /pets"
