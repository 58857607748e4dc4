"""The consumer OAuth2 endpoints: token (client-credentials grant), introspection (RFC 7662), revocation
(RFC 7009) and the JWKS. Served by django-oauth-toolkit's views with their own server and validator classes.

Consumers and gateways are kept apart by construction: consumer clients are `keys.OAuthClient` rows, which only
this validator knows (DOT's `/o/token/` for gateways never sees them), and consumer tokens are JWTs that are
never stored in DOT's token table (so the gateway API's OAuth2Authentication never accepts them). Gateways'
DOT applications are unknown here, so they cannot get consumer JWTs either.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any
from urllib.parse import unquote

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.views import RevokeTokenView, TokenView
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from foundation import ratelimit
from keys.services import clients as client_services
from keys.services import signing

GRANT_TYPE = "client_credentials"
BEARER = "Bearer"  # the token_type of RFC 6750
UNAUTHORIZED = 401


class SlowDown(OAuth2Error):
    """429 `slow_down`: the OAuth error registered for "too many token requests" (RFC 8628 §3.5), with Retry-After."""

    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after: int, description: str) -> None:
        super().__init__(description=description)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class SigningNotReady(OAuth2Error):
    """503 `temporarily_unavailable` until the first signing key may sign (docs/oauth.md), with Retry-After."""

    error = "temporarily_unavailable"
    status_code = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__(description="The token signing key is being published to the gateways; retry later.")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _signing_ready(request: OAuthRequest) -> None:
    """Issue no token that gateways could not verify yet: a fresh platform's first key waits out the publish delay."""
    retry_after = signing.signing_wait_seconds()
    if retry_after:
        raise SigningNotReady(retry_after)


def _throttle_client(request: OAuthRequest) -> None:
    """After the client authenticated: count its token request against PORTICO_OAUTH_TOKEN_RATE."""
    rate = ratelimit.Rate.parse(settings.PORTICO_OAUTH_TOKEN_RATE)
    retry_after = ratelimit.hit("oauth-token", request.client.client_id, rate)
    if retry_after:
        raise SlowDown(retry_after, "Too many token requests for this client; reuse a token until it expires.")


def _basic_credentials(request: OAuthRequest) -> tuple[str, str] | None:
    """client_id and secret from `Authorization: Basic` (form-urlencoded inside, RFC 6749 §2.3.1)."""
    header = request.headers.get("HTTP_AUTHORIZATION") or request.headers.get("Authorization") or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if separator else None


class ConsumerValidator(RequestValidator):
    """oauthlib's questions answered from `keys.OAuthClient`; `request.client` is the client row."""

    def client_authentication_required(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        return True

    def authenticate_client(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        credentials = _basic_credentials(request) or (request.client_id or "", request.client_secret or "")
        client = client_services.oauth_client_authenticate(client_id=credentials[0], secret=credentials[1])
        if client is None:
            return False
        request.client, request.client_id = client, client.client_id
        return True

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        return grant_type == GRANT_TYPE

    def get_default_scopes(self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any) -> list[str]:
        """No scope asked for: every API the application is subscribed to."""
        return client_services.subscribed_scopes(request.client.application)

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Scopes name APIs (by slug); any outside the active subscriptions is `invalid_scope` (RFC 6749 §5.2)."""
        allowed = set(client_services.subscribed_scopes(client.application))
        return bool(scopes) and set(scopes) <= allowed

    def save_bearer_token(self, token: dict[str, Any], request: OAuthRequest, *args: Any, **kwargs: Any) -> None:
        """Nothing to store: the generator recorded the `jti` when it signed the token."""

    def introspect_token(
        self, token: str, token_type_hint: str | None, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> dict[str, Any] | None:
        """Claims of the caller's own active token; None (so `{"active": false}`) for anything else."""
        found = client_services.oauth_token_find(token=token, client=request.client)
        if found is None or found[0].revoked_at is not None:
            return None
        claims = found[1]
        return {**claims, "token_type": BEARER}

    def revoke_token(
        self, token: str, token_type_hint: str | None, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> None:
        """Revoke the caller's own token; someone else's or an unknown one is ignored, as RFC 7009 §2.2 says."""
        found = client_services.oauth_token_find(token=token, client=request.client)
        if found is not None:
            client_services.oauth_token_revoke(token=found[0], actor=None)


def _sign_token(request: OAuthRequest) -> str:
    return client_services.oauth_token_issue(
        client=request.client, scopes=list(request.scopes), lifetime=int(request.expires_in)
    )


def _lifetime(request: OAuthRequest) -> int:
    return client_services.token_lifetime(request.client.application, list(request.scopes))


class ConsumerServer(BackendApplicationServer):
    """Client credentials only, tokens signed as JWTs; DOT's global server settings (the gateways') are ignored."""

    def __init__(self, request_validator: RequestValidator, **_ignored: Any) -> None:
        super().__init__(request_validator, token_generator=_sign_token, token_expires_in=_lifetime)
        self.credentials_grant.custom_validators.post_token.extend([_throttle_client, _signing_ready])


@functools.cache
def _core() -> OAuthLibCore:
    return OAuthLibCore(ConsumerServer(ConsumerValidator()))


class ConsumerOAuthMixin:
    """Our own server for these views. DOT caches its core on the view class, where a subclass of its TokenView
    would inherit the gateways' core: so the core is ours, cached here."""

    server_class = ConsumerServer
    validator_class = ConsumerValidator

    @classmethod
    def get_oauthlib_core(cls) -> OAuthLibCore:
        return _core()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Refuse an address that keeps failing client authentication, and count each new failure."""
        address, refusal = _throttled_address(request)
        if refusal is not None:
            return _answer(refusal.headers, refusal.json, refusal.status_code)
        headers, body, status = self.respond(request)
        if status == UNAUTHORIZED:
            ratelimit.hit("oauth-failed-auth", address, _failure_rate())
        return _answer(headers, body, status)

    def respond(self, request: HttpRequest) -> tuple[dict[str, str], str | None, int]:
        raise NotImplementedError


def _failure_rate() -> ratelimit.Rate:
    return ratelimit.Rate.parse(settings.PORTICO_OAUTH_FAILED_AUTH_RATE)


def _throttled_address(request: HttpRequest) -> tuple[str, SlowDown | None]:
    """The client address (as the login throttle sees it) and the refusal if it failed to authenticate too often."""
    address = get_adapter(request).get_client_ip(request)
    retry_after = ratelimit.exhausted("oauth-failed-auth", address, _failure_rate())
    refusal = (
        SlowDown(retry_after, "Too many failed client authentications from this address.") if retry_after else None
    )
    return address, refusal


def _answer(headers: dict[str, str], body: str | None, status: int) -> HttpResponse:
    response = HttpResponse(content=body or "", status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    return response


class ConsumerTokenView(ConsumerOAuthMixin, TokenView):
    """POST /oauth/token: `grant_type=client_credentials`, client authenticated by Basic auth or the body."""

    def respond(self, request: HttpRequest) -> tuple[dict[str, str], str | None, int]:
        try:
            _url, headers, body, status = self.create_token_response(request)
        except signing.SigningKeyPending as pending:  # the key vanished between the check and the signature
            error = SigningNotReady(pending.retry_after)
            return error.headers, error.json, error.status_code
        return headers, body, status


class ConsumerIntrospectView(ConsumerOAuthMixin, TokenView):
    """POST /oauth/introspect (RFC 7662): a client may introspect its own tokens only."""

    def respond(self, request: HttpRequest) -> tuple[dict[str, str], str | None, int]:
        core = self.get_oauthlib_core()
        uri, method, body, headers = core._extract_params(request)
        headers, body, status = core.server.create_introspect_response(uri, method, body, headers)
        return headers, body, status


class ConsumerRevokeView(ConsumerOAuthMixin, RevokeTokenView):
    """POST /oauth/revoke (RFC 7009): a client may revoke its own tokens; gateways learn the `jti` from the feed."""

    def respond(self, request: HttpRequest) -> tuple[dict[str, str], str | None, int]:
        _url, headers, body, status = self.create_revocation_response(request)
        return headers, body, status


@require_GET
def jwks_view(request: HttpRequest) -> HttpResponse:
    """GET /oauth/jwks.json: the public keys tokens are signed with (a new key appears before it signs)."""
    response = JsonResponse(signing.jwks())
    response["Cache-Control"] = "public, max-age=60"
    return response
