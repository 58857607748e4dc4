"""The OpenAPI 3.x compiler: a document turned into the compact form gateways validate requests against.

Gateways never parse OpenAPI: this module resolves every local `$ref`, merges path- and operation-level parameters
and keeps only the keywords the gateway checks (docs/protection.md lists them). A document with anything the
gateway could not honour (a remote or recursive `$ref`, `pattern`, `oneOf`...) is refused with a reason naming where,
so "enforce" never silently checks less than the document says. Pure functions over JSON: no Django.
"""

from __future__ import annotations

import json
import re
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_COMPILED_BYTES = 256 * 1024  # shipped in every snapshot and change: a bound on what one API adds to them
MAX_DEPTH = 32  # nested schemas; the gateway's JSON decoder is bounded likewise
# Keywords that describe without constraining: dropped.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "example",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "xml",
        "externalDocs",
        "$comment",
        "$schema",
        "$id",
    }
)
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "nullable",
        "enum",
        "const",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "minItems",
        "maxItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
    }
)
TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
# Formats the gateway checks, by the type they apply to; the others are refused rather than ignored.
CHECKED_FORMATS = {"date", "date-time", "uuid", "email", "ipv4", "uri", "int32", "int64"}
ANNOTATION_FORMATS = {"float", "double", "password", "binary", "byte"}
PARAM_LOCATIONS = {"path": "path", "query": "query", "header": "header"}
PRIMITIVES = frozenset({"string", "integer", "number", "boolean"})
_TEMPLATE = re.compile(r"^\{([^{}/]+)\}$")


class CompileError(Exception):
    """The document cannot be enforced as written; the message says where and why."""


def _pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class _Compiler:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resolving: list[str] = []

    def deref(self, node: Any, where: str) -> tuple[Any, str]:
        """A `$ref` followed to its target (local only), and the target's location."""
        seen: list[str] = []
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise CompileError(f"{where}: only local $ref (#/...) are supported, not {str(ref)[:80]!r}")
            if ref in seen:
                raise CompileError(f"{where}: $ref {ref} refers to itself")
            seen.append(ref)
            target: Any = self.document
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and token in target:
                    target = target[token]
                elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                    target = target[int(token)]
                else:
                    raise CompileError(f"{where}: $ref {ref} does not resolve")
            node, where = target, ref
        return node, where

    def schema(self, node: Any, where: str, depth: int = 0) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise CompileError(f"{where}: schemas nested deeper than {MAX_DEPTH}")
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in self.resolving:
                raise CompileError(f"{where}: recursive $ref {ref} (recursive schemas cannot be compiled)")
            self.resolving.append(ref)
            try:
                target, target_where = self.deref(node, where)
                return self.schema(target, target_where, depth + 1)
            finally:
                self.resolving.pop()
        if node is True or node == {}:
            return {}
        if not isinstance(node, dict):
            raise CompileError(f"{where}: a schema must be an object")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ANNOTATIONS or key.startswith("x-"):
                continue
            if key not in SCHEMA_KEYWORDS:
                raise CompileError(f"{where}: keyword {key!r} is not supported by gateway validation")
            self.keyword(out, key, value, node, where, depth)
        return out

    def keyword(self, out: dict[str, Any], key: str, value: Any, node: dict[str, Any], where: str, depth: int) -> None:
        if key == "type":
            types = value if isinstance(value, list) else [value]
            if not types or any(t not in TYPES for t in types):
                raise CompileError(f"{where}: type {value!r} is not a JSON Schema type")
            out["type"] = sorted(set(types) | ({"null"} if node.get("nullable") is True else set()))
        elif key == "nullable":
            if "type" not in node and value is True:
                raise CompileError(f"{where}: nullable without a type")
        elif key in ("enum", "const"):
            values = [value] if key == "const" else value
            if not isinstance(values, list) or not values:
                raise CompileError(f"{where}: enum must be a non-empty list")
            if any(isinstance(v, dict | list) for v in values):
                raise CompileError(f"{where}: enum of objects or arrays is not supported")
            out["enum"] = values
        elif key == "format":
            if value in CHECKED_FORMATS:
                out["format"] = value
            elif value not in ANNOTATION_FORMATS:
                raise CompileError(f"{where}: format {value!r} is not checked by the gateway")
        elif key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
            if type(value) is not int or value < 0:
                raise CompileError(f"{where}: {key} must be a non-negative integer")
            out[key] = value
        elif key in ("minimum", "maximum", "multipleOf"):
            if type(value) not in (int, float) or (key == "multipleOf" and value <= 0):
                raise CompileError(f"{where}: {key} must be a number")
            out[key] = value
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value is True:  # OpenAPI 3.0: a flag on minimum/maximum
                out["x" + bound[:3]] = True
            elif type(value) in (int, float):  # OpenAPI 3.1 (JSON Schema 2020-12): the bound itself
                out[bound] = value
                out["x" + bound[:3]] = True
            elif value is not False:
                raise CompileError(f"{where}: {key} must be a boolean or a number")
        elif key == "items":
            out["items"] = self.schema(value, f"{where}/items", depth + 1)
        elif key == "properties":
            if not isinstance(value, dict):
                raise CompileError(f"{where}: properties must be an object")
            out["props"] = {
                name: self.schema(sub, f"{where}/properties/{_pointer_token(name)}", depth + 1)
                for name, sub in value.items()
            }
            read_only = {name for name, sub in value.items() if isinstance(sub, dict) and sub.get("readOnly") is True}
            if read_only and "required" in out:
                out["required"] = [n for n in out["required"] if n not in read_only]
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                raise CompileError(f"{where}: required must be a list of names")
            props: dict[str, Any] = node["properties"] if isinstance(node.get("properties"), dict) else {}
            # readOnly properties are answered, not sent (OpenAPI 3): not required in a request
            out["required"] = [n for n in value if not (isinstance(props.get(n), dict) and props[n].get("readOnly"))]
        elif key == "additionalProperties":
            if value is False:
                out["addl"] = False
            elif value is not True:
                out["addl"] = self.schema(value, f"{where}/additionalProperties", depth + 1)

    def parameter(self, node: Any, where: str) -> tuple[tuple[str, str], dict[str, Any]]:
        param, where = self.deref(node, where)
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise CompileError(f"{where}: a parameter needs a name")
        location, name = param.get("in"), param["name"]
        if location == "cookie":
            raise CompileError(f"{where}: cookie parameters are not supported")
        if location not in PARAM_LOCATIONS:
            raise CompileError(f"{where}: parameter location {location!r} is not one of path, query, header")
        if "content" in param:
            raise CompileError(f"{where}: parameters described by `content` are not supported")
        style = param.get("style")
        if style not in (None, "form" if location == "query" else "simple") or param.get("explode") is False:
            raise CompileError(f"{where}: parameter style {style!r} / explode=false is not supported")
        schema = self.schema(param.get("schema", {}), f"{where}/schema")
        types = set(schema.get("type", [])) - {"null"}
        if "object" in types or ("array" in types and location != "query"):
            raise CompileError(f"{where}: {location} parameters of type {sorted(types)} are not supported")
        if "array" in types and not set(schema.get("items", {}).get("type", ["string"])) <= PRIMITIVES:
            raise CompileError(f"{where}: query arrays must hold strings, numbers or booleans")
        if location == "header":
            name = name.lower()
        required = param.get("required") is True or location == "path"
        entry = {"in": location, "name": name, "req": required, "s": schema}
        return (location, name), entry

    def parameters(self, node: dict[str, Any], where: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        params = node.get("parameters", [])
        if not isinstance(params, list):
            raise CompileError(f"{where}/parameters: must be a list")
        return [self.parameter(p, f"{where}/parameters/{i}") for i, p in enumerate(params)]

    def request_body(self, node: Any, where: str) -> dict[str, Any] | None:
        body, where = self.deref(node, where)
        if not isinstance(body, dict) or not isinstance(body.get("content"), dict):
            raise CompileError(f"{where}: a requestBody needs content")
        media = [m for m in body["content"] if m.split(";")[0].strip() == "application/json" or m.endswith("+json")]
        if not media:
            return None  # not JSON: the gateway does not look into the body
        if len(body["content"]) > len(media):
            raise CompileError(f"{where}: a body that may be JSON or not is not supported")
        content, content_where = self.deref(body["content"][media[0]], f"{where}/content")
        schema = self.schema((content or {}).get("schema", {}), f"{content_where}/schema")
        return {"req": body.get("required") is True, "s": schema}

    def operations(self) -> list[dict[str, Any]]:
        paths = self.document.get("paths")
        if not isinstance(paths, dict) or not paths:
            raise CompileError("the document has no paths")
        ops = []
        for template, item in paths.items():
            where = f"#/paths/{_pointer_token(template)}"
            item, where = self.deref(item, where)
            if not isinstance(template, str) or not template.startswith("/") or not isinstance(item, dict):
                raise CompileError(f"{where}: a path must start with / and describe operations")
            segments = [s for s in template.split("/")[1:]]
            if segments == [""]:
                segments = []
            for segment in segments:
                if ("{" in segment or "}" in segment) and not _TEMPLATE.match(segment):
                    raise CompileError(f"{where}: a path parameter must be a whole segment")
            if "|" in template:
                raise CompileError(f"{where}: '|' in a path is not supported")
            shared = dict(self.parameters(item, where))
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op_where = f"{where}/{method}"
                op = item[method]
                if not isinstance(op, dict):
                    raise CompileError(f"{op_where}: an operation must be an object")
                params = dict(shared)
                params.update(self.parameters(op, op_where))
                names = {m.group(1) for m in map(_TEMPLATE.match, segments) if m}
                declared = {name for (location, name) in params if location == "path"}
                if names != declared:
                    raise CompileError(f"{op_where}: path parameters {sorted(names)} are not all declared")
                entry: dict[str, Any] = {
                    "id": f"{method.upper()} {template}",
                    "m": method.upper(),
                    "segs": segments,
                    "params": [params[k] for k in sorted(params)],
                }
                if "requestBody" in op:
                    body = self.request_body(op["requestBody"], f"{op_where}/requestBody")
                    if body is not None:
                        entry["body"] = body
                ops.append(entry)
        if not ops:
            raise CompileError("the document has no operations")
        return ops


def compile_document(document: Any) -> dict[str, Any]:
    """The compact form of an OpenAPI 3.x document (operations, parameters, JSON body schemas), or CompileError."""
    if not isinstance(document, dict):
        raise CompileError("there is no OpenAPI document")
    version = document.get("openapi")
    if not (isinstance(version, str) and re.match(r"^3\.[01]\.\d+$", version)):
        raise CompileError(f"only OpenAPI 3.0 and 3.1 documents are supported (openapi: {str(version)[:20]!r})")
    compiled = {"ops": _Compiler(document).operations()}
    if len(json.dumps(compiled, separators=(",", ":"))) > MAX_COMPILED_BYTES:
        raise CompileError(f"the compiled form exceeds {MAX_COMPILED_BYTES // 1024} KiB")
    return compiled
