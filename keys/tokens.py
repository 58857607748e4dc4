"""The secret format shared by API keys and personal access tokens.

`ptc_<kind>_<43 base62 chars: 256 random bits><6 base62 chars: CRC32 checksum>`, as GitHub does it:
the prefix makes a leaked secret recognisable to scanners, and the checksum lets the gateway and the
platform reject a mistyped or made-up secret without any lookup. Only the SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BRAND = "ptc"
KINDS = ("live", "test", "pat", "cs")  # cs: OAuth client secrets
SECRET_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
DISPLAY_PREFIX_LENGTH = 16  # "ptc_live_" + 7 secret chars: enough to tell keys apart, useless to an attacker
_TOKEN_RE = re.compile(rf"^{BRAND}_(live|test|pat|cs)_[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    """Base62 CRC32 of everything before the checksum (the gateway computes the same with ngx.crc32_long)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def digest(token: str) -> str:
    """Lower-case hex SHA-256: what we store and what gateways look keys up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A freshly generated secret: `token` is shown once, the rest is stored."""

    token: str
    digest: str
    prefix: str
    last4: str


def generate(kind: str) -> IssuedToken:
    """Make a new 256-bit secret of the given kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    body = f"{BRAND}_{kind}_" + "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    token = body + checksum(body)
    return IssuedToken(token=token, digest=digest(token), prefix=token[:DISPLAY_PREFIX_LENGTH], last4=token[-4:])


def is_well_formed(token: str, kind: str | None = None) -> bool:
    """Shape and checksum are right: cheap, constant-work rejection before any database lookup."""
    match = _TOKEN_RE.match(token)
    if match is None or (kind is not None and match.group(1) != kind):
        return False
    body, check = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    return hmac.compare_digest(checksum(body), check)
