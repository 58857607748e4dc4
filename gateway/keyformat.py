"""Reference implementation of the Portico API key format (shared contract with the gateway's Lua).

A key is ``ptc_live_`` or ``ptc_test_`` + 43 base62 characters (256-bit secret) + a 6-character
base62 checksum of everything before it (zlib CRC32, most significant digit first, zero-padded).
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIXES = ("ptc_live_", "ptc_test_")
SECRET_LEN = 43
CHECKSUM_LEN = 6
KEY_LEN = 9 + SECRET_LEN + CHECKSUM_LEN
PREFIX_LEN = 16


def base62(n: int, width: int) -> str:
    """Encode n in base62, left-padded with '0' to width."""
    out = []
    while n:
        n, d = divmod(n, 62)
        out.append(ALPHABET[d])
    return "".join(reversed(out)).rjust(width, "0")


def checksum(body: str) -> str:
    """Six-character checksum of the key body (prefix + secret)."""
    return base62(zlib.crc32(body.encode()), CHECKSUM_LEN)


def make_key(live: bool = True) -> str:
    """A new random key with a valid checksum."""
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LEN))
    body = PREFIXES[0 if live else 1] + secret
    return body + checksum(body)


def is_well_formed(key: str) -> bool:
    """Syntax and checksum check, as the gateway does before any lookup."""
    return (
        len(key) == KEY_LEN
        and key[:9] in PREFIXES
        and all(c in ALPHABET for c in key[9:])
        and checksum(key[: KEY_LEN - CHECKSUM_LEN]) == key[KEY_LEN - CHECKSUM_LEN :]
    )


def digest(key: str) -> str:
    """Lowercase hex SHA-256 of the full key: what the platform stores and ships."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key shown to humans and written to logs."""
    return key[:PREFIX_LEN]
