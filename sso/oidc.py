"""allauth's OpenID Connect login and callback, with the ID token checked by joserfc.

allauth decodes ID tokens with PyJWT, which Portico does not depend on; joserfc (already used for the consumer
access tokens) does it here, and stricter: the signature is always checked against the provider's JWKS, with
asymmetric algorithms only, besides issuer, audience and expiry. Everything else is allauth's flow unchanged.
"""

from __future__ import annotations

from typing import Any, cast

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# Signature algorithms accepted on ID tokens: public-key ones only (no HS256 keyed with the client secret, no none).
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
# Seconds of clock difference tolerated between the provider and the portal on exp/iat/nbf.
CLOCK_LEEWAY = 60


def id_token_verify(id_token: str, *, jwks: dict[str, Any], issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a signed ID token from `issuer` for `audience`; OAuth2Error when anything does not hold."""
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(cast(Any, jwks)), algorithms=ID_TOKEN_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise OAuth2Error(f"Invalid id_token: {type(error).__name__}") from error
    return dict(token.claims)


class PorticoOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.openid_config["jwks_uri"])
            response.raise_for_status()
            jwks = response.json()
        return id_token_verify(id_token, jwks=jwks, issuer=self.openid_config["issuer"], audience=app.client_id)


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2LoginView.adapter_view(PorticoOpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2CallbackView.adapter_view(PorticoOpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
