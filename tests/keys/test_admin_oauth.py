"""Staff in the admin: revoke a leaked OAuth client (and its tokens) through the service; never see a secret."""

from __future__ import annotations

from typing import Any

from django.test import Client

from foundation.models import AuditEvent
from gateway_sync.models import ConfigChange
from keys.models import OAuthToken
from tests.support.oauth import token_for


def test_staff_revoke_a_client_with_its_tokens_and_are_the_audited_actor(
    staff_client: Client, staff: Any, oauth_client: Any
) -> None:
    client, secret = oauth_client
    token_for(oauth_client)
    listing = staff_client.get("/admin/keys/oauthclient/")
    assert client.client_id in listing.content.decode() and secret not in listing.content.decode()
    response = staff_client.post(
        "/admin/keys/oauthclient/", {"action": "revoke", "_selected_action": [client.pk]}, follow=True
    )
    assert response.status_code == 200
    client.refresh_from_db()
    assert client.revoked_at is not None
    assert OAuthToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.get(action="oauth_client.revoked").actor_id == staff.pk
    assert ConfigChange.objects.filter(kind="oauth_client", object_id=client.client_id).exists()


def test_signing_keys_are_listed_without_their_private_half(staff_client: Client, signing_key: Any) -> None:
    key = signing_key
    page = staff_client.get(f"/admin/keys/signingkey/{key.pk}/change/").content.decode()
    assert key.kid in page and key.private_key_encrypted not in page
