"""API7:2023 Server side request forgery: no URL a developer enters is ever fetched, and the URLs staff enter are
http(s) only.

The platform makes outbound requests in one place: pushes and log collection to a gateway's admin listener
(`Gateway.admin_url`); gateways forward to an API's `upstream_url`. Both, and the CORS origins of an API, are
set by staff in the admin (staff + MFA), where private addresses are the normal case (upstreams and admin
listeners live on internal networks), so only the scheme is restricted. Developers can enter no URL at all: the
inventory below lists every input a developer can send, read from the served OpenAPI document and from the forms
of every page, so a new field has to be added here, and classified, before it ships.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.test import Client

from tests.support.problems import assert_problem
from tests.support.routes import PARAMETER, walk

URLISH = re.compile(r"url|uri|href|link|host|origin|webhook|callback|endpoint|redirect|website|domain|server", re.I)
# Inputs whose name looks like a URL but that hold none: Django's `next` (checked by url_has_allowed_host_and_scheme
# against ALLOWED_HOSTS) names only a path on this site.
NOT_URLS = {"next"}
# Every field a developer can send through the REST API, by operation.
API_INPUTS = {
    "OrganisationCreateRequest": {"name"},
    "OrganisationRenameRequest": {"name"},
    "MemberRoleRequest": {"role"},
    "InvitationCreateRequest": {"email", "role"},
    "ApplicationCreateRequest": {"name", "description"},
    "ApplicationUpdateRequest": {"name", "description"},
    "SubscriptionCreateRequest": {"plan"},
    "SubscriptionChangePlanRequest": {"plan"},
    "ApiKeyCreateRequest": {"name", "environment", "expires_at", "allowed_cidrs", "apis"},
    "ApiKeyUpdateRequest": {"name", "allowed_cidrs", "apis"},
    "ApiKeyRotateRequest": {"grace", "name"},
    "AccessTokenCreateRequest": {"name", "expires_at"},
    "OAuthClientCreateRequest": {"name", "environment"},
    "OAuthClientRotateRequest": {"grace"},
    "WebhookEndpointCreateRequest": {"url", "event_types", "description"},
    "WebhookEndpointUpdateRequest": {"url", "event_types", "description", "is_active"},
    "ClientCertificateCreateRequest": {"name", "pem"},
}
# The only URLs a developer may enter: webhook endpoints, refused when internal at registration and resolved and
# checked again at every delivery (tests/webhooks/test_ssrf.py walks every internal form).
DEVELOPER_URL_INPUTS = {("WebhookEndpointCreateRequest", "url"), ("WebhookEndpointUpdateRequest", "url")}
DEVELOPER_URL_FORM_INPUTS = {("url", "url")}  # the webhook page's field, same service and checks
DEVELOPER_URL_FIELDS = {"webhooks.Endpoint.url"}
# The only URLs (and host names) stored anywhere: all set by staff in the admin.
STAFF_URL_FIELDS = {
    "portal.Api.upstream_url",
    "portal.Api.sandbox_upstream_url",  # test keys' upstream (issue #15), same rules
    "portal.Api.cors_allowed_origins",
    "portal.Api.host",  # a host name the gateway routes on, never fetched
    "gateway_sync.Gateway.admin_url",
    # SSO policy (admin only): email domains compared with what a provider asserts, never fetched; a switch
    "sso.SsoPolicy.allowed_domains",
    "sso.SsoMembershipRule.domain",
    "sso.SsoPolicy.link_existing_accounts",
}
OUR_APPS = (
    "foundation",
    "portal",
    "keys",
    "analytics",
    "gateway_sync",
    "webhooks",
    "notifications",
    "anomalies",
    "sso",
    "protection",
    "redaction",
    "certificates",
)


class _Inputs(HTMLParser):
    """Names and types of the inputs of a page's forms."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[tuple[str, str]] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("input", "textarea", "select") and values.get("name"):
            self.found.add((str(values["name"]), str(values.get("type") or tag)))


def _form_inputs(response: Any) -> set[tuple[str, str]]:
    parser = _Inputs()
    parser.feed(response.content.decode())
    return parser.found


def _page_routes(ids: dict[str, Any]) -> list[str]:
    pages = []
    for route, _ in walk():
        if route.startswith(("api/", "admin/", "gateway/", "o/", "^")) or "^" in route:
            continue
        names = PARAMETER.findall(route)
        if all(name in ids for name in names):
            pages.append("/" + PARAMETER.sub(lambda match: str(ids[match.group(1)]), route))
    return pages


def test_no_api_operation_takes_a_url_and_every_input_is_inventoried(alice_client) -> None:
    schema = alice_client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    taken: dict[str, set[str]] = {}
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                name = content["schema"]["$ref"].rsplit("/", 1)[-1]
                properties = components[name]["properties"]
                taken[name] = set(properties)
                for field, spec in properties.items():
                    if (name, field) not in DEVELOPER_URL_INPUTS:
                        assert spec.get("format") != "uri" and not URLISH.search(field), (name, field)
    assert taken == API_INPUTS


def test_no_page_form_a_developer_can_reach_takes_a_url(alice_client, alices_things) -> None:
    inputs: set[tuple[str, str]] = set()
    visited = 0
    for client in (alice_client, Client()):
        for page in _page_routes(alices_things):
            response = client.get(page)
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                inputs |= _form_inputs(response)
                visited += 1
    assert visited >= 30
    urlish = {(name, kind) for name, kind in inputs if kind == "url" or (URLISH.search(name) and name not in NOT_URLS)}
    assert urlish == DEVELOPER_URL_FORM_INPUTS


def test_urls_are_stored_only_in_fields_staff_set() -> None:
    stored = set()
    for model in apps.get_models():
        if model._meta.app_label in OUR_APPS:
            for field in model._meta.get_fields():
                if isinstance(field, models.URLField) or (
                    isinstance(field, models.Field) and not field.is_relation and URLISH.search(field.name)
                ):
                    stored.add(f"{model._meta.app_label}.{model.__name__}.{field.name}")
    assert stored == STAFF_URL_FIELDS | DEVELOPER_URL_FIELDS


@pytest.mark.parametrize("target", ["https://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "https://[::1]/"])
def test_a_developer_url_is_refused_when_it_is_internal(alice_api, alices_things, target) -> None:
    org = alices_things["organisation_id"]
    body = {"url": target, "event_types": ["key.created"]}
    assert_problem(alice_api.post(f"/api/v1/organisations/{org}/webhooks/", body, format="json"), 400)
    endpoint = alices_things["endpoint_id"]
    assert_problem(alice_api.patch(f"/api/v1/webhooks/{endpoint}/", {"url": target}, format="json"), 400)


@pytest.mark.parametrize("form", ["/admin/portal/api/add/", "/admin/gateway_sync/gateway/add/"])
def test_a_developer_cannot_use_the_forms_where_urls_are_entered(alice_client, form) -> None:
    from gateway_sync.models import Gateway
    from portal.models import Api

    assert alice_client.get(form).status_code in (302, 403)
    response = alice_client.post(form, {"name": "edge-x", "admin_url": "http://169.254.169.254/", **_api_form()})
    assert response.status_code in (302, 403)
    assert not Gateway.objects.exists() and not Api.objects.exists()


NOT_HTTP = ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://10.0.0.5/", "dict://127.0.0.1:11211/"]


@pytest.mark.parametrize("target", NOT_HTTP)
def test_staff_can_register_a_gateway_only_with_an_http_admin_url(staff_client, target) -> None:
    from gateway_sync.models import Gateway

    response = staff_client.post("/admin/gateway_sync/gateway/add/", {"name": "edge-x", "admin_url": target})
    assert response.status_code == 200  # the form again, with its error
    assert not Gateway.objects.filter(name="edge-x").exists()
    # private addresses are what admin listeners have: allowed
    staff_client.post("/admin/gateway_sync/gateway/add/", {"name": "edge-x", "admin_url": "http://10.0.0.7:8081"})
    assert Gateway.objects.get(name="edge-x").admin_url == "http://10.0.0.7:8081"


def _api_form(upstream: str = "http://10.0.0.5:9000") -> dict[str, str]:
    return {
        "name": "Orders", "slug": "orders", "version": "v1", "description": "", "path_prefix": "/orders",
        "upstream_url": upstream, "visibility": "public", "methods": '["GET"]', "cors_allowed_origins": "[]",
        "host": "", "strip_prefix": "on", "max_body_bytes": "1048576", "key_header": "X-API-Key",
        "connect_timeout_ms": "5000", "read_timeout_ms": "30000", "send_timeout_ms": "30000", "openapi_document": "",
        "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
        "plans-TOTAL_FORMS": "0", "plans-INITIAL_FORMS": "0", "plans-MIN_NUM_FORMS": "0", "plans-MAX_NUM_FORMS": "1000",
        "protection-TOTAL_FORMS": "0", "protection-INITIAL_FORMS": "0",
    }  # fmt: skip


@pytest.mark.parametrize("target", NOT_HTTP)
def test_staff_can_publish_an_api_only_with_an_http_upstream(staff_client, target) -> None:
    from portal.models import Api

    response = staff_client.post("/admin/portal/api/add/", _api_form(target))
    assert response.status_code == 200, response.content[:300]
    assert not Api.objects.filter(slug="orders").exists()
    response = staff_client.post("/admin/portal/api/add/", _api_form("http://10.0.0.5:9000"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert Api.objects.get(slug="orders").upstream_url == "http://10.0.0.5:9000"


@pytest.mark.parametrize("target", NOT_HTTP)
def test_staff_can_give_an_api_only_an_http_sandbox_upstream(staff_client, target) -> None:
    from portal.models import Api

    response = staff_client.post("/admin/portal/api/add/", {**_api_form(), "sandbox_upstream_url": target})
    assert response.status_code == 200, response.content[:300]
    assert "sandbox_upstream_url" in response.context["adminform"].form.errors
    assert not Api.objects.filter(slug="orders").exists()
    response = staff_client.post("/admin/portal/api/add/", {**_api_form(), "sandbox_upstream_url": "http://10.0.0.6"})
    assert response.status_code == 302
    assert Api.objects.get(slug="orders").sandbox_upstream_url == "http://10.0.0.6"
