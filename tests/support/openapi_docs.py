"""OpenAPI documents for request-validation tests (docs/protection.md), and their compiled snapshot member."""

from __future__ import annotations

import copy
from typing import Any

from protection.openapi import compile_document

PETS: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["name", "age"]}},
                    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {
                        "name": "X-Tenant",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 8},
                    },
                ]
            },
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
                }
            },
        },
        "/pets/{petId}": {
            "parameters": [{"$ref": "#/components/parameters/PetId"}],
            "get": {},
            "delete": {},
        },
        "/pets/mine": {"get": {}},
    },
    "components": {
        "parameters": {
            "PetId": {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer", "format": "int32"}}
        },
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name", "tags"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string", "minLength": 1, "maxLength": 10},
                    "age": {"type": "number", "minimum": 0, "exclusiveMaximum": 50},
                    "tags": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 3,
                        "items": {"$ref": "#/components/schemas/Tag"},
                    },
                    "owner": {"type": "string", "format": "email", "nullable": True},
                },
            },
            "Tag": {
                "type": "object",
                "required": ["label"],
                "properties": {"label": {"type": "string", "maxLength": 5}, "weight": {"type": "integer"}},
            },
        },
    },
}


def pets() -> dict[str, Any]:
    """A fresh copy of the pets document (tests may edit it)."""
    return copy.deepcopy(PETS)


def validation(mode: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API's "validation" snapshot member, compiled as the platform does (protection/openapi.py)."""
    compiled = compile_document(document or PETS)
    return {"mode": mode, "digest": f"test-{mode}-{id(document)}", "ops": compiled["ops"]}
