"""Signed requests from the platform to a gateway's admin listener (docs/gateway-protocol.md §5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import requests


def signature_headers(secret: str, method: str, request_uri: str, body: bytes) -> dict[str, str]:
    """HMAC-SHA256 over timestamp, a fresh nonce, method, URI and body: stale or replayed requests are refused."""
    stamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    canonical = b"\n".join([stamp.encode(), nonce.encode(), method.encode(), request_uri.encode(), body])
    return {
        "X-Portico-Timestamp": stamp,
        "X-Portico-Nonce": nonce,
        "X-Portico-Signature": hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest(),
    }


class GatewayAdminClient:
    """One gateway's admin endpoint; a short timeout because a slow gateway must not hold up the others."""

    def __init__(self, base_url: str, secret: str, *, timeout: float = 5.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()

    def request(self, method: str, request_uri: str, payload: Any = None) -> requests.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = signature_headers(self.secret, method, request_uri, body)
        if body:
            headers["Content-Type"] = "application/json"
        return self.session.request(
            method, self.base_url + request_uri, data=body, headers=headers, timeout=self.timeout
        )
