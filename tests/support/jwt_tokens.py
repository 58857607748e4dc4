"""Consumer access tokens for gateway black-box tests: ES256 JWTs as the platform signs them (keys/services/signing.py),
and the forgeries a gateway must refuse. All JOSE work is joserfc's; forgeries are assembled by hand on purpose."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey

ISSUER = "https://portico.test"
AUDIENCE = "portico-gateway"
CLIENT_ID = "ptc_client_" + "ab" * 16


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class Signer:
    """A P-256 signing key with its kid, as the platform keeps one."""

    key: ECKey = field(
        default_factory=lambda: ECKey.generate_key("P-256", parameters={"kid": secrets.token_urlsafe(9)})
    )

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def jwk(self) -> dict[str, Any]:
        """The public half, as the snapshot's JWKS carries it."""
        return {**self.key.as_dict(private=False), "use": "sig", "alg": "ES256"}

    def token(self, *, header: dict[str, Any] | None = None, **overrides: Any) -> str:
        """A token for CLIENT_ID of application 5 (organisation 2) with scope api1, valid 15 minutes (claims as
        keys/services/clients.py issues them: no `nbf` unless given)."""
        return jwt.encode(
            {"alg": "ES256", "kid": self.kid, "typ": "at+jwt", **(header or {})},
            claims(**overrides),
            self.key,
            algorithms=["ES256"],
        )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "application_id": 5,
        "organisation_id": 2,
        "scope": "api1",
        "iat": now,
        "exp": now + 900,
        "jti": secrets.token_urlsafe(16),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def oauth_member(
    *signers: Signer,
    revoked_tokens: list[dict[str, Any]] | None = None,
    revoked_clients: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The snapshot's `oauth` member (docs/gateway-protocol.md, section 11)."""
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks": {"keys": [s.jwk() for s in signers]},
        "revoked_clients": revoked_clients or [],
        "revoked_tokens": revoked_tokens or [],
    }


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def unsigned(**overrides: Any) -> str:
    """`alg: none`: no signature at all."""
    return f"{b64url_json({'alg': 'none', 'typ': 'at+jwt'})}.{b64url_json(claims(**overrides))}."


def hs256_with_public_key(signer: Signer, **overrides: Any) -> str:
    """Algorithm confusion: HMAC-SHA256 keyed with the public key's JWK text, as a careless verifier would check it."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'kid': signer.kid})}.{b64url_json(claims(**overrides))}"
    secret = json.dumps(signer.jwk(), separators=(",", ":")).encode()
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def tampered(token: str, **overrides: Any) -> str:
    """The token's signature on a payload with changed claims."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64url_json({**decoded, **overrides})}.{signature}"


def signed_with_header(signer: Signer, header: dict[str, Any], **overrides: Any) -> str:
    """A correctly signed token with a header joserfc would refuse to write (e.g. a `crit` extension)."""
    signing_input = f"{b64url_json({'alg': 'ES256', 'kid': signer.kid, **header})}.{b64url_json(claims(**overrides))}"
    r, s = decode_dss_signature(signer.key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
