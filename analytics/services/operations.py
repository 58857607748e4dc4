"""Which operation of its API a logged request called: "GET /users/{id}" from the API's OpenAPI paths.

The gateway logs the raw path (`$request_uri` without the query) and the API it routed to. Ingest turns that into
the operation dimension of the rollups, which must stay small whatever clients send: a path that matches none of
the document's templates, or a method the matched path does not declare, is OPERATION_OTHER, never a new group.

Matching follows the gateway and the portal: the path is normalised as nginx does before routing (%-escapes
decoded, `//` merged, `.` and `..` segments resolved), the API's public prefix is removed on whole segments (the
portal publishes the document with the gateway URL plus the prefix as its server, whatever `strip_prefix` says),
and concrete segments win over templated ones (OpenAPI 3: `/users/me` before `/users/{id}`), among the templates
that declare the request's method; HEAD falls back to GET when no matching path declares HEAD. Each template is
one small compiled regex: no maintained library among our dependencies matches OpenAPI path templates
(uritemplate only expands RFC 6570 templates).

Matchers are compiled once per API and process and kept while the API's prefix and document are unchanged: each
page of ingest asks the database for an MD5 of both (one query, on PostgreSQL and SQLite alike), and recompiles
only the APIs whose fingerprint moved, so a spec edited in the admin applies from the next page on.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from django.db.models import CharField, TextField, Value
from django.db.models.functions import MD5, Cast, Coalesce, Concat

from analytics.models import OPERATION_MAX_LENGTH, OPERATION_NONE, OPERATION_OTHER
from portal.models import Api

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_OPERATIONS = 1_000  # per API: a bound on the dimension even for a huge document (the rest count as "other")
_MEMO_MAX = 4_096  # (method, path) answers remembered per API (about 0.6 MB); cleared when full, so random paths
# cannot grow it: they only cost a match each (a few microseconds)
_CACHE_MAX = 2_000  # APIs with compiled matchers per process
_PARAMETER = re.compile(r"\{[^{}/]*\}")
_SLASHES = re.compile(r"/{2,}")


def path_normalise(raw: str) -> str:
    """The path as nginx routes it ($uri): %-escapes decoded, repeated slashes merged, dot segments resolved."""
    if raw.startswith("/") and "%" not in raw and "//" not in raw and "/." not in raw and "?" not in raw:
        return raw  # the usual path: nothing to do
    path = unquote(raw.split("?", 1)[0], errors="replace")
    if not path.startswith("/"):
        path = "/" + path
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "/." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _template_regex(template: str) -> re.Pattern[str]:
    """`/files/{name}.{ext}` -> ^/files/[^/]+\\.[^/]+$; adjacent parameters are one (they are ambiguous anyway)."""
    parts, position = [], 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        if not parts[-1] and len(parts) > 1 and parts[-2] == "[^/]+":
            parts.pop()
        else:
            parts.append("[^/]+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("^" + "".join(p for p in parts if p) + "$")


def _specificity(template: str) -> tuple[int, ...]:
    """Sort key: at each segment a concrete one (0) before a partly (1) or wholly (2) templated one."""
    key = []
    for segment in template.split("/"):
        if not _PARAMETER.search(segment):
            key.append(0)
        else:
            key.append(2 if _PARAMETER.fullmatch(segment) else 1)
    return tuple(key)


@dataclass
class Matcher:
    """One API's operations: exact paths in a dict, templated ones as regexes by segment count, most specific first;
    each with its operations' names by method ({"GET": "GET /users/{id}"})."""

    prefix: str
    exact: dict[str, dict[str, str]] = field(default_factory=dict)
    templated: dict[int, list[tuple[re.Pattern[str], dict[str, str]]]] = field(default_factory=dict)
    memo: dict[tuple[str, str], str] = field(default_factory=dict)  # (method, raw path) -> operation

    def operation(self, method: str, raw_path: str) -> str:
        """ "GET /users/{id}" for a logged method and raw path, or OPERATION_OTHER."""
        key = (method, raw_path)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= _MEMO_MAX:
                self.memo.clear()
            found = self.memo[key] = self._match(method, raw_path)
        return found

    def _match(self, method: str, raw_path: str) -> str:
        """The most specific template matching the path that declares the method (or GET, for a HEAD). Stops at the
        first: a path matching nothing costs one pass over its segment count's templates (then it is remembered)."""
        path = path_normalise(raw_path)
        prefix = self.prefix
        if prefix != "/":
            if path == prefix:
                path = "/"
            elif path.startswith(prefix) and path[len(prefix)] == "/":
                path = path[len(prefix) :]
            else:
                return OPERATION_OTHER  # not under the API's prefix: a record the gateway could not have routed here
        head = None
        operations = self.exact.get(path)
        if operations is not None:
            found = operations.get(method)
            if found is not None:
                return found
            if method == "HEAD":
                head = operations.get("GET")
        for regex, operations in self.templated.get(path.count("/"), ()):
            if regex.match(path) is not None:
                found = operations.get(method)
                if found is not None:
                    return found
                if head is None and method == "HEAD":
                    head = operations.get("GET")
        return head or OPERATION_OTHER


def operation_name(method: str, template: str) -> str:
    """The stored name of an operation, capped to the column (a staff-written template is bounded, not trusted)."""
    return f"{method} {template}"[:OPERATION_MAX_LENGTH]


def matcher_compile(*, prefix: str, document: Any) -> Matcher:
    """A matcher for an OpenAPI document's paths (untrusted JSON: anything malformed is skipped)."""
    matcher = Matcher(prefix=prefix.rstrip("/") or "/")
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict):
        return matcher
    operations, templated = 0, []
    for template, item in paths.items():
        if not (isinstance(template, str) and template.startswith("/") and isinstance(item, dict)):
            continue
        names = {m.upper(): operation_name(m.upper(), template) for m in METHODS if isinstance(item.get(m), dict)}
        if not names or operations + len(names) > MAX_OPERATIONS:
            continue
        operations += len(names)
        if _PARAMETER.search(template):
            templated.append((template, names))
        else:
            matcher.exact[template] = names
    templated.sort(key=lambda t: (_specificity(t[0]), t[0]))
    for template, names in templated:
        matcher.templated.setdefault(template.count("/"), []).append((_template_regex(template), names))
    return matcher


# api id -> (fingerprint of prefix and document, matcher), per process
_MATCHERS: dict[int, tuple[str, Matcher]] = {}


def operation_matchers(api_ids: Collection[int]) -> dict[int, Matcher]:
    """Compiled matchers of the existing APIs among `api_ids` (unknown ids are left out): one query, two when an
    API is new to this process or its prefix or document changed since it was compiled."""
    if not api_ids:
        return {}
    document = Coalesce(Cast("openapi_document", TextField()), Value(""), output_field=TextField())
    fingerprints = dict(
        Api.objects.filter(pk__in=api_ids)
        .annotate(fingerprint=MD5(Concat("path_prefix", Value(" "), document, output_field=CharField())))
        .values_list("pk", "fingerprint")
    )
    stale = [pk for pk, fingerprint in fingerprints.items() if _MATCHERS.get(pk, ("",))[0] != fingerprint]
    if stale:
        if len(_MATCHERS) + len(stale) > _CACHE_MAX:
            _MATCHERS.clear()
        for pk, prefix, spec in Api.objects.filter(pk__in=stale).values_list("pk", "path_prefix", "openapi_document"):
            _MATCHERS[pk] = (fingerprints[pk], matcher_compile(prefix=prefix, document=spec))
    return {pk: _MATCHERS[pk][1] for pk in fingerprints if pk in _MATCHERS}


def operation_of(matchers: dict[int, Matcher], api_id: int | None, method: str, path: str) -> str:
    """The operation a request called, OPERATION_NONE when its API is unknown."""
    matcher = matchers.get(api_id) if api_id is not None else None
    return matcher.operation(method, path) if matcher is not None else OPERATION_NONE
