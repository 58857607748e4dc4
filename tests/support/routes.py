"""The served routes, read from the URL configuration, so tests that walk them cannot forget a new one."""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HANDLERS = ("get", "post", "patch", "delete")
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def walk(patterns: list[Any] | None = None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    """Every (route, pattern) the URLconf serves, routes as written (`api/v1/keys/<int:key_id>/`)."""
    found: list[tuple[str, URLPattern]] = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern))
    return found


def api_routes() -> list[tuple[str, Any]]:
    """The REST API's routes (under api/v1/) with their DRF view classes."""
    return [(route, pattern.callback.cls) for route, pattern in walk() if route.startswith("api/v1/")]


def methods(view: type) -> list[str]:
    """The handlers (lower-case HTTP methods) a view class answers, of those the tests drive."""
    return [m for m in HANDLERS if m in view.http_method_names and hasattr(view, m)]


def url(route: str, ids: dict[str, Any]) -> str:
    """The route with its parameters filled in from `ids`."""
    return "/" + PARAMETER.sub(lambda match: str(ids[match.group(1)]), route)
