"""Claims for the test provider's ID tokens and userinfo: the email, and whether the provider vouches for it."""

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

# Usernames starting with this get email_verified false: an address the provider never checked.
UNVERIFIED_PREFIX = "unverified-"


class ClaimsValidator(OAuth2Validator):
    # django-oauth-toolkit hands out a claim only with the scope it is mapped to.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "email": "email", "email_verified": "email"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "email": user.email,
            "email_verified": not user.username.startswith(UNVERIFIED_PREFIX),
            "name": user.get_full_name() or user.username,
            "preferred_username": user.username,
        }
