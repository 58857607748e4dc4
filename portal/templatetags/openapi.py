"""Turn a stored OpenAPI document into plain data a template can render: no JavaScript, no CDN.

The document is JSON entered by staff, so it is treated as untrusted input: every level is type-checked,
`$ref`s are followed only inside the document and only a few hops deep, and the output is bounded. All text
is rendered by the template with autoescaping; nothing here produces HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django import template

register = template.Library()

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_OPERATIONS = 300
MAX_SCHEMAS = 100
MAX_PROPERTIES = 60
MAX_REF_HOPS = 8
MAX_DEPTH = 4


@dataclass
class Parameter:
    name: str
    location: str
    required: bool
    type: str
    description: str


@dataclass
class Content:
    media_type: str
    type: str


@dataclass
class Response:
    status: str
    description: str
    content: list[Content]


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    operation_id: str
    deprecated: bool
    parameters: list[Parameter]
    request_body: list[Content]
    request_body_required: bool
    responses: list[Response]


@dataclass
class Group:
    name: str
    description: str
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Property:
    name: str
    type: str
    required: bool
    description: str


@dataclass
class Schema:
    name: str
    type: str
    description: str
    properties: list[Property]


@dataclass
class Document:
    title: str = ""
    version: str = ""
    description: str = ""
    spec_version: str = ""
    servers: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    schemas: list[Schema] = field(default_factory=list)
    operation_count: int = 0
    truncated: bool = False


def _text(value: Any, limit: int = 5000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _Reader:
    """Walks one document; `resolve` follows local `$ref`s (`#/components/...`) with a hop limit."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def resolve(self, node: Any) -> dict[str, Any]:
        node = _dict(node)
        for _ in range(MAX_REF_HOPS):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                return node
            node = self._pointer(ref)
        return {}

    def _pointer(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            return {}  # remote references are never fetched
        current: Any = self.doc
        for raw in ref[2:].split("/"):
            current = _dict(current).get(raw.replace("~1", "/").replace("~0", "~"))
        return _dict(current)

    def type_of(self, schema: Any, depth: int = 0) -> str:
        """A one-line description of a schema: `string (date-time)`, `array of Pet`, `Pet | Error`."""
        schema = _dict(schema)
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return ref.rsplit("/", 1)[-1][:80] or "object"
        if depth >= MAX_DEPTH:
            return "…"
        for combiner, joiner in (("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")):
            options = _list(schema.get(combiner))
            if options:
                return joiner.join(self.type_of(option, depth + 1) for option in options[:6])
        kind = schema.get("type")
        if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
            kind = " | ".join(str(k) for k in kind[:4])
        kind = str(kind) if kind else ("object" if "properties" in schema else "any")
        if kind == "array":
            return f"array of {self.type_of(schema.get('items'), depth + 1)}"
        details = []
        if isinstance(schema.get("format"), str):
            details.append(schema["format"][:40])
        enum = _list(schema.get("enum"))
        if enum:
            details.append("one of " + ", ".join(str(v)[:40] for v in enum[:10]) + (", …" if len(enum) > 10 else ""))
        return f"{kind} ({'; '.join(details)})" if details else kind

    def parameter(self, raw: Any) -> Parameter | None:
        param = self.resolve(raw)
        name = _text(param.get("name"), 200)
        if not name:
            return None
        location = _text(param.get("in"), 20) or "query"
        schema = param.get("schema") if "schema" in param else param  # Swagger 2 puts `type` on the parameter
        return Parameter(
            name=name,
            location=location,
            required=bool(param.get("required")) or location == "path",
            type=self.type_of(schema),
            description=_text(param.get("description")),
        )

    def content(self, node: dict[str, Any]) -> list[Content]:
        items = [
            Content(media_type=str(media_type)[:100], type=self.type_of(_dict(body).get("schema")))
            for media_type, body in list(_dict(node.get("content")).items())[:10]
        ]
        if not items and "schema" in node:  # Swagger 2 responses
            items.append(Content(media_type="", type=self.type_of(node.get("schema"))))
        return items

    def operation(self, path: str, method: str, raw: dict[str, Any], shared: list[Any]) -> Operation:
        by_key: dict[tuple[str, str], Parameter] = {}
        for item in [*shared, *_list(raw.get("parameters"))]:  # operation parameters override path ones
            param = self.parameter(item)
            if param is not None:
                by_key[(param.location, param.name)] = param
        body = self.resolve(raw.get("requestBody"))
        responses = [
            Response(
                status=str(status)[:10],
                description=_text(self.resolve(response).get("description")),
                content=self.content(self.resolve(response)),
            )
            for status, response in sorted(_dict(raw.get("responses")).items(), key=lambda item: str(item[0]))
        ]
        return Operation(
            method=method.upper(),
            path=path,
            anchor="op-" + re.sub(r"[^a-z0-9]+", "-", f"{method}-{path}".lower()).strip("-"),
            summary=_text(raw.get("summary"), 300),
            description=_text(raw.get("description")),
            operation_id=_text(raw.get("operationId"), 200),
            deprecated=raw.get("deprecated") is True,
            parameters=sorted(by_key.values(), key=lambda p: ("path query header cookie".find(p.location), p.name)),
            request_body=self.content(body),
            request_body_required=body.get("required") is True,
            responses=responses,
        )

    def schemas(self) -> list[Schema]:
        components = _dict(_dict(self.doc.get("components")).get("schemas")) or _dict(self.doc.get("definitions"))
        result = []
        for name, raw in list(components.items())[:MAX_SCHEMAS]:
            schema = _dict(raw)
            required = {str(r) for r in _list(schema.get("required"))}
            properties = [
                Property(
                    name=str(prop)[:100],
                    type=self.type_of(prop_schema),
                    required=str(prop) in required,
                    description=_text(_dict(prop_schema).get("description"), 500),
                )
                for prop, prop_schema in list(_dict(schema.get("properties")).items())[:MAX_PROPERTIES]
            ]
            result.append(
                Schema(
                    name=str(name)[:100],
                    type=self.type_of(schema),
                    description=_text(schema.get("description")),
                    properties=properties,
                )
            )
        return result


def read_document(raw: Any) -> Document | None:
    """The renderable view of an OpenAPI 3.x (or Swagger 2) document, or None when there is nothing usable."""
    if not isinstance(raw, dict):
        return None
    reader = _Reader(raw)
    info = _dict(raw.get("info"))
    document = Document(
        title=_text(info.get("title"), 200),
        version=_text(info.get("version"), 50),
        description=_text(info.get("description"), 20000),
        spec_version=_text(raw.get("openapi") or raw.get("swagger"), 20),
        servers=[_text(_dict(s).get("url"), 300) for s in _list(raw.get("servers"))[:10] if _dict(s).get("url")],
    )
    tag_descriptions = {
        _text(_dict(tag).get("name"), 100): _text(_dict(tag).get("description"), 2000) for tag in _list(raw.get("tags"))
    }
    groups: dict[str, Group] = {}
    anchors: set[str] = set()
    count = 0
    for path, raw_item in _dict(raw.get("paths")).items():
        item = reader.resolve(raw_item)
        for method in METHODS:
            if not isinstance(item.get(method), dict):
                continue
            if count >= MAX_OPERATIONS:
                document.truncated = True
                break
            operation = reader.operation(str(path)[:500], method, item[method], _list(item.get("parameters")))
            while operation.anchor in anchors:  # /a-b and /a/b slugify alike; anchors must stay unique
                operation.anchor += "-x"
            anchors.add(operation.anchor)
            tags = [t for t in _list(item[method].get("tags")) if isinstance(t, str) and t]
            name = tags[0][:100] if tags else "Endpoints"
            groups.setdefault(name, Group(name=name, description=tag_descriptions.get(name, "")))
            groups[name].operations.append(operation)
            count += 1
    document.groups = list(groups.values())
    document.operation_count = count
    document.schemas = reader.schemas()
    if not count and not document.schemas and not document.title:
        return None
    return document


@register.simple_tag
def openapi_document(raw: Any) -> Document | None:
    """`{% openapi_document api.openapi_document as doc %}`"""
    return read_document(raw)
