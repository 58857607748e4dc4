"""Gateways registered on the platform with the credentials shown once, and their OAuth2 tokens."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.test import Client

from gateway_sync.models import Gateway
from gateway_sync.services import gateway_register


@dataclass
class Registered:
    """A registered gateway with the credentials it was shown once."""

    gateway: Gateway
    client_id: str
    client_secret: str
    push_secret: str


def register(name: str = "edge-1", admin_url: str = "http://127.0.0.1:9") -> Registered:
    return Registered(*gateway_register(name=name, admin_url=admin_url))


def fetch_token(client: Client, client_id: str, client_secret: str, scope: str | None = "gateway") -> str:
    """A client-credentials token from the real DOT token endpoint."""
    basic = base64.b64encode(f"{quote(client_id)}:{quote(client_secret)}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    response = client.post(
        "/o/token/",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]
