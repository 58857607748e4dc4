"""Helpers for calling the consumer OAuth2 endpoints as a client would."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from django.test import Client


def basic(client_id: str, secret: str) -> dict[str, str]:
    """`Authorization: Basic` for Django's test client, encoded as RFC 6749 §2.3.1 says."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def token_for(pair: tuple[Any, str], scope: str = "") -> str:
    """A fresh access token for (client, secret), through the real token endpoint."""
    client, secret = pair
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = Client().post("/oauth/token", data, **basic(client.client_id, secret))
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])
