"""The OpenAPI compiler (protection/openapi.py): what it compiles, how $refs resolve, and what it refuses and why."""

from __future__ import annotations

import pytest

from protection.openapi import CompileError, compile_document
from tests.support.openapi_docs import pets


def _op(compiled, op_id):
    return next(op for op in compiled["ops"] if op["id"] == op_id)


def test_operations_carry_method_segments_and_merged_parameters():
    compiled = compile_document(pets())

    assert sorted(op["id"] for op in compiled["ops"]) == [
        "DELETE /pets/{petId}", "GET /pets", "GET /pets/mine", "GET /pets/{petId}", "POST /pets",
    ]  # fmt: skip
    one = _op(compiled, "GET /pets/{petId}")
    assert one["segs"] == ["pets", "{petId}"]
    assert one["params"] == [
        {"in": "path", "name": "petId", "req": True, "s": {"type": ["integer"], "format": "int32"}}
    ]
    tenant = _op(compiled, "GET /pets")["params"][0]
    assert (tenant["in"], tenant["name"], tenant["req"]) == ("header", "x-tenant", True)  # header names lower-cased


def test_body_refs_are_resolved_and_read_only_properties_are_not_required():
    doc = pets()
    doc["components"]["schemas"]["NewPet"]["required"].append("id")  # id is readOnly: answered, not sent

    body = _op(compile_document(doc), "POST /pets")["body"]

    assert body["req"] is True
    schema = body["s"]
    assert schema["required"] == ["name", "tags"]
    assert schema["addl"] is False
    assert schema["props"]["tags"]["items"] == {
        "type": ["object"], "required": ["label"],
        "props": {"label": {"type": ["string"], "maxLength": 5}, "weight": {"type": ["integer"]}},
    }  # fmt: skip
    assert schema["props"]["owner"]["type"] == ["null", "string"]  # nullable (3.0)
    assert schema["props"]["age"] == {"type": ["number"], "minimum": 0, "maximum": 50, "xmax": True}


def test_openapi_3_1_types_and_exclusive_bounds_compile():
    doc = pets()
    doc["openapi"] = "3.1.0"
    doc["components"]["schemas"]["NewPet"]["properties"]["age"] = {"type": ["number", "null"], "exclusiveMinimum": 0}

    age = _op(compile_document(doc), "POST /pets")["body"]["s"]["props"]["age"]

    assert age == {"type": ["null", "number"], "minimum": 0, "xmin": True}


def _with_schema(schema):
    doc = pets()
    doc["components"]["schemas"]["NewPet"]["properties"]["extra"] = schema
    return doc


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(openapi="2.0"), "only OpenAPI 3.0 and 3.1"),
        (lambda d: d.update(paths={}), "no paths"),
        (lambda d: d["components"]["schemas"]["Tag"]["properties"].update(child={"$ref": "#/components/schemas/Tag"}),
         "recursive $ref #/components/schemas/Tag"),
        (lambda d: d["components"]["schemas"].update(NewPet={"$ref": "https://example.com/pet.json"}),
         "only local $ref"),
        (lambda d: d["components"]["schemas"].update(NewPet={"$ref": "#/components/schemas/Missing"}),
         "$ref #/components/schemas/Missing does not resolve"),
        (lambda d: d.update(_with_schema({"type": "string", "pattern": "^a+$"})),
         "#/components/schemas/NewPet/properties/extra: keyword 'pattern' is not supported"),
        (lambda d: d.update(_with_schema({"oneOf": [{"type": "string"}, {"type": "integer"}]})),
         "keyword 'oneOf' is not supported"),
        (lambda d: d.update(_with_schema({"type": "string", "format": "hostname"})),
         "format 'hostname' is not checked"),
        (lambda d: d["paths"]["/pets"]["get"]["parameters"].append({"name": "s", "in": "cookie"}),
         "cookie parameters are not supported"),
        (lambda d: d["paths"].update({"/x/{a}": {"get": {}}}), "path parameters ['a'] are not all declared"),
        (lambda d: d["paths"].update({"/x/a{b}": {"get": {}}}), "a path parameter must be a whole segment"),
        (lambda d: d["paths"]["/pets"]["get"]["parameters"].append(
            {"name": "f", "in": "query", "schema": {"type": "object"}}), "query parameters of type ['object']"),
    ],
    ids=["swagger-2", "no-paths", "recursive", "remote-ref", "dangling-ref", "pattern", "oneOf", "format",
         "cookie", "undeclared-path-param", "partial-segment", "object-query"],
)  # fmt: skip
def test_documents_it_cannot_honour_are_refused_with_the_reason(edit, reason):
    doc = pets()
    edit(doc)

    with pytest.raises(CompileError) as refused:
        compile_document(doc)
    assert reason in str(refused.value)


def test_a_non_json_body_is_not_looked_into():
    doc = pets()
    doc["paths"]["/pets"]["post"]["requestBody"]["content"] = {"text/plain": {"schema": {"type": "string"}}}

    assert "body" not in _op(compile_document(doc), "POST /pets")
