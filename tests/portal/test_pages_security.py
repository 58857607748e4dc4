"""Cross-cutting page security: foreign ids are 404 everywhere, roles are enforced, CSRF, escaping and CSP."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from keys.models import ApiKey, OAuthClient
from keys.services import access_token_issue
from portal.models import Application, Invitation, Membership, Role
from portal.services.organisations import invitation_create
from tests.portal.pages_helpers import text
from tests.support.api_fixtures import registered_certificate

# Routes that only accept POST: a GET answers 405 whoever asks, so it reveals nothing about the id.
POST_ONLY = {
    "organisation_switch",
    "organisation_rename",
    "member_invite",
    "member_change_role",
    "invitation_revoke",
    "application_subscribe",
    "subscription_change_plan",
}


def _portal_routes_with_ids() -> dict[str, list[str]]:
    """Every named portal route and the integer ids its URL takes, read from the URLconf itself."""
    routes: dict[str, list[str]] = {}

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "portal" and pattern.name:
                ids = [
                    name for name, conv in pattern.pattern.converters.items() if type(conv).__name__ == "IntConverter"
                ]
                if ids:
                    routes[pattern.name] = ids

    walk(get_resolver().url_patterns, None)
    return routes


@pytest.fixture
def alice_objects(
    org: Any, alice: Any, bob: Any, application: Any, subscription: Any, api_key: Any, oauth_client: Any
) -> dict[str, int]:
    """One id of each kind in alice's organisation (plus alice's own access token)."""
    owner = Membership.objects.get(organisation=org, user=alice)
    invitation = invitation_create(membership=owner, email="dana@example.com", role=Role.MEMBER)
    token, _ = access_token_issue(user=alice, name="alice's token")
    return {
        "organisation_id": org.pk,
        "member_id": Membership.objects.get(organisation=org, user=bob).pk,
        "invitation_id": invitation.pk,
        "application_id": application.pk,
        "subscription_id": subscription.pk,
        "key_id": api_key[0].pk,
        "token_id": token.pk,
        "oauth_client_id": oauth_client[0].pk,
        "certificate_id": registered_certificate(application).pk,
    }


def test_charlie_gets_404_on_every_id_route_of_alices_organisation(
    charlie_client: Client, charlie_application: Any, alice_client: Client, alice_objects: dict[str, int]
) -> None:
    routes = _portal_routes_with_ids()
    assert len(routes) >= 20  # the matrix really covers the portal
    for name, ids in routes.items():
        url = reverse(f"portal:{name}", kwargs={param: alice_objects[param] for param in ids})
        posted = charlie_client.post(url, {"name": "pwned", "role": "owner", "plan": 1, "grace": "now"})
        assert posted.status_code == 404, (name, url, posted.status_code)
        if name in POST_ONLY:
            assert charlie_client.get(url).status_code == alice_client.get(url).status_code == 405, name
        else:
            assert charlie_client.get(url).status_code == 404, (name, url)
    assert Application.objects.filter(name="pwned").count() == 0
    assert ApiKey.objects.get(pk=alice_objects["key_id"]).status == ApiKey.Status.ACTIVE
    assert Invitation.objects.get(pk=alice_objects["invitation_id"]).revoked_at is None
    assert OAuthClient.objects.get(pk=alice_objects["oauth_client_id"]).revoked_at is None


def test_ids_that_are_not_numbers_or_overflow_are_404_not_500(charlie_client: Client) -> None:
    for url in ["/applications/99999999999999999999/", "/keys/0/edit/", "/orgs/9223372036854775808/members/"]:
        assert charlie_client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    ("method", "route", "param"),
    [
        ("get", "application_edit", "application_id"),
        ("post", "application_edit", "application_id"),
        ("get", "application_delete", "application_id"),
        ("post", "application_delete", "application_id"),
        ("post", "member_invite", "organisation_id"),
        ("post", "organisation_rename", "organisation_id"),
        ("get", "audit_log", "organisation_id"),
        ("post", "invitation_revoke", "invitation_id"),
    ],
)
def test_bob_a_plain_member_gets_403_on_manager_only_actions(
    bob_client: Client, alice_objects: dict[str, int], method: str, route: str, param: str
) -> None:
    kwargs = {param: alice_objects[param]}
    if route == "invitation_revoke":
        kwargs["organisation_id"] = alice_objects["organisation_id"]
    data = {"name": "renamed", "email": "eve@example.com", "role": "member", "description": ""}
    response = getattr(bob_client, method)(reverse(f"portal:{route}", kwargs=kwargs), data)
    assert response.status_code == 403
    assert "needs the admin or owner role" in text(response)  # the service explains what is missing
    assert Application.objects.filter(pk=alice_objects["application_id"]).exclude(name="renamed").exists()
    assert not Invitation.objects.filter(email="eve@example.com").exists()


def test_bob_cannot_change_roles_or_remove_the_owner(
    bob_client: Client, alice: Any, alice_objects: dict[str, int]
) -> None:
    organisation_id = alice_objects["organisation_id"]
    owner = Membership.objects.get(organisation_id=organisation_id, user=alice)
    role_url = reverse("portal:member_change_role", args=[organisation_id, owner.pk])
    assert bob_client.post(role_url, {f"m{owner.pk}-role": "member"}).status_code == 403
    remove_url = reverse("portal:member_remove", args=[organisation_id, owner.pk])
    assert bob_client.get(remove_url).status_code == 403
    assert bob_client.post(remove_url).status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_a_post_without_a_csrf_token_is_refused(alice: Any, org: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = reverse("portal:application_create", args=[org.pk])
    assert client.post(url, {"name": "No token"}).status_code == 403
    assert not Application.objects.filter(name="No token").exists()
    token = client.get(url).context["csrf_token"]
    assert client.post(url, {"name": "With token", "csrfmiddlewaretoken": str(token)}).status_code == 302


def test_html_in_names_is_escaped_and_the_csp_header_is_strict(
    alice_client: Client, application: Any, subscription: Any, org: Any
) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    Application.objects.filter(pk=application.pk).update(name=payload)
    alice_client.post(reverse("portal:key_create", args=[application.pk]), {"name": payload, "environment": "live"})
    for url in [
        reverse("portal:application_detail", args=[application.pk]),
        reverse("portal:dashboard"),
        reverse("portal:application_list", args=[org.pk]),
        reverse("portal:audit_log", args=[org.pk]),
    ]:
        response = alice_client.get(url)
        page = text(response)
        assert payload not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "style-src 'self'" in policy


def test_pages_have_no_inline_scripts_or_styles(alice_client: Client, application: Any, api: Any) -> None:
    """The CSP would block them in the browser; catch them here instead."""
    for url in ["/", f"/applications/{application.pk}/", f"/catalog/{api.slug}/", "/accounts/email/"]:
        page = text(alice_client.get(url))
        assert " style=" not in page, url
        for chunk in page.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, (url, head)
