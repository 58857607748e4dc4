"""RFC 9457 answers and token clients, shared by the API tests and the security suite."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://portico.dev/problems/")
    assert body["title"] and body["detail"]
    return body


def token_client(secret: str) -> APIClient:
    """A client that authenticates only with `Authorization: Bearer <secret>` (no session, CSRF enforced)."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client
