"""OpenAPI description of personal access token authentication (imported by keys.api.urls)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer ptc_pat_…`; requests authenticated this way need no CSRF token."""

    target_class = "keys.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ptc_pat_…",
            "description": "A personal access token created at /api/v1/access-tokens/ from a signed-in session.",
        }
