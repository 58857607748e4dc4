"""API9:2023 Improper inventory management: what is served is what is documented, and nothing more.

The routes under /api/ (read from the URLconf) and their methods equal the paths and operations of the served
OpenAPI document; of django-oauth-toolkit only the token endpoint gateways use is reachable; every top-level mount
is a known one, so a library's URLconf included whole, or a forgotten debug route, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.routes import PARAMETER, methods, walk

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Served under /api/ but not operations of the API: the document itself and its Swagger UI page.
NOT_OPERATIONS = {"/api/schema/", "/api/docs/"}
# Every route the URLconf serves starts with one of these (the portal's pages are matched by name below).
KNOWN_MOUNTS = (
    "accounts/", "api/", "admin/", "gateway/v1/", "o/token/", "oauth/", "healthz", "readyz", "favicon.ico"
)  # fmt: skip
PORTAL_APPS = ("portal", "keys", "analytics", "webhooks", "notifications", "anomalies", "sso")
PORTAL_APPS += ("certificates",)
# Endpoints the full django-oauth-toolkit URLconf would add: client registration with redirect URIs of the
# caller's choosing, authorization and device flows, introspection, metadata.
OAUTH_EXTRAS = [
    "/o/applications/",
    "/o/applications/register/",
    "/o/authorized_tokens/",
    "/o/authorize/",
    "/o/device/",
    "/o/device-authorization/",
    "/o/introspect/",
    "/o/revoke_token/",
    "/o/register/",
    "/o/.well-known/oauth-authorization-server",
    "/o/.well-known/oauth-protected-resource",
]


def _served_api() -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for route, pattern in walk():
        if route.startswith("api/"):
            path = "/" + PARAMETER.sub(lambda match: "{" + match.group(1) + "}", route)
            view = getattr(pattern.callback, "cls", None)
            served[path] = set(methods(view)) if view else {"get"}
    return served


def test_the_served_api_equals_the_openapi_document(alice_client) -> None:
    response = alice_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    documented = {
        path: {method for method in operations if method in ("get", "post", "put", "patch", "delete")}
        for path, operations in response.json()["paths"].items()
    }
    served = {path: verbs for path, verbs in _served_api().items() if path not in NOT_OPERATIONS}
    assert set(served) == set(documented), set(served) ^ set(documented)
    for path, verbs in served.items():
        assert verbs == documented[path], path
    assert len(served) >= 25


def test_every_route_belongs_to_a_known_mount_or_to_our_portal_apps() -> None:
    unknown = []
    for route, pattern in walk():
        module = getattr(pattern.callback, "__module__", "")
        if not route.startswith(KNOWN_MOUNTS) and module.split(".")[0] not in PORTAL_APPS:
            unknown.append((route, module))
    assert unknown == []


def test_only_the_oauth_token_endpoint_is_served() -> None:
    oauth = [route for route, _ in walk() if route.startswith("o/")]
    assert oauth == ["o/token/"]


def test_the_consumer_oauth_mount_serves_token_introspection_revocation_and_jwks_only() -> None:
    """Consumers' endpoints (docs/oauth.md): client registration is the portal's and the REST API's, not OAuth's."""
    consumer = sorted(route for route, _ in walk() if route.startswith("oauth/"))
    assert consumer == ["oauth/introspect", "oauth/jwks.json", "oauth/revoke", "oauth/token"]


@pytest.mark.parametrize("path", OAUTH_EXTRAS)
def test_oauth_extras_answer_404_even_to_a_signed_in_developer(alice_client, path) -> None:
    for method in ("get", "post"):
        response = getattr(alice_client, method)(path)
        assert response.status_code == 404, (method, path, response.status_code)


def test_every_gateway_endpoint_is_in_the_gateway_protocol() -> None:
    protocol = (DOCS / "gateway-protocol.md").read_text()
    routes = ["/" + route for route, _ in walk() if route.startswith("gateway/v1/")]
    assert routes
    for route in routes:
        endpoint = route.removeprefix("/gateway/v1")
        assert route in protocol or re.search(rf"`[^`]*{re.escape(endpoint)}`", protocol), route


def test_every_test_docs_security_names_exists() -> None:
    """docs/security.md maps each OWASP item and ASVS area to tests: the map must not point at nothing."""
    text = (DOCS / "security.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`", text)
    assert len(named) >= 40
    for path, test in named:
        source = DOCS.parent / path
        assert source.is_file(), path
        if test:
            assert f"def {test[2:]}(" in source.read_text(), path + test
    for follow_on in re.findall(r"`(::\w+)`", text):  # `::name` continues the previous file's list
        assert any(f"def {follow_on[2:]}(" in (DOCS.parent / p).read_text() for p, _ in named), follow_on


def test_single_sign_on_adds_allauths_provider_routes_and_portico_answers_the_oidc_ones() -> None:
    """docs/sso.md: allauth's social-account pages, and its OpenID Connect login and callback shadowed by sso.oidc
    (checked with joserfc); no other provider is installed."""
    social = sorted(
        (route, getattr(pattern.callback, "__module__", ""))
        for route, pattern in walk()
        if route.startswith(("accounts/3rdparty/", "accounts/social/", "accounts/oidc/"))
    )
    assert [route for route, _ in social if "3rdparty" in route or "social/" in route] == [
        "accounts/3rdparty/", "accounts/3rdparty/login/cancelled/", "accounts/3rdparty/login/error/",
        "accounts/3rdparty/signup/", "accounts/social/connections/", "accounts/social/login/cancelled/",
        "accounts/social/login/error/", "accounts/social/signup/",
    ]  # fmt: skip
    oidc = [(route, module) for route, module in social if route.startswith("accounts/oidc/")]
    assert oidc[:2] == [
        ("accounts/oidc/<str:provider_id>/login/", "sso.oidc"),
        ("accounts/oidc/<str:provider_id>/login/callback/", "sso.oidc"),
    ]  # ours come first, so they are the ones that answer
    assert all(route.startswith("accounts/oidc/^") for route, _ in oidc[2:]), oidc
