"""Strict reading of uploaded PEM certificates with `cryptography`: what the platform agrees to pin."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from foundation.errors import ValidationFailed

MAX_PEM_BYTES = 16 * 1024  # a leaf certificate is 1-3 KB; anything bigger is a bundle or not a certificate
MIN_RSA_BITS = 2048
BEGIN = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class CertificateFacts:
    """What is kept of a certificate: its normalised PEM and the facts shown and enforced."""

    pem: str
    fingerprint: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    certificate: x509.Certificate


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={field: [message]})


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def read_certificate(
    text: str | bytes, *, field: str = "pem", ca: bool = False, now: datetime | None = None
) -> CertificateFacts:
    """Exactly one PEM certificate, currently valid, a leaf (or a CA when `ca`), with a sound public key."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if not raw.strip():
        raise _fail(field, "Paste or upload a PEM certificate.")
    if len(raw) > MAX_PEM_BYTES:
        raise _fail(field, f"At most {MAX_PEM_BYTES // 1024} KB: upload one certificate, not a bundle.")
    try:
        body = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _fail(field, "A PEM certificate is ASCII text starting with -----BEGIN CERTIFICATE-----.") from None
    if "PRIVATE KEY" in body:
        raise _fail(field, "This contains a private key: never upload it. Upload the certificate only.")
    count = body.count(BEGIN)
    if count != 1:
        raise _fail(field, "Upload exactly one certificate." if count else "No -----BEGIN CERTIFICATE----- block.")
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise _fail(field, "This is not a readable PEM certificate.") from None
    now = now or datetime.now(UTC)
    if cert.not_valid_after_utc <= now:
        raise _fail(field, "This certificate has expired.")
    if cert.not_valid_before_utc > now:
        raise _fail(field, "This certificate is not valid yet.")
    if _is_ca(cert) != ca:
        message = (
            "This is a CA certificate: upload the client's own certificate." if not ca else "Not a CA certificate."
        )
        raise _fail(field, message)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise _fail(field, f"RSA keys need at least {MIN_RSA_BITS} bits.")
    if isinstance(key, dsa.DSAPublicKey) or not isinstance(
        key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    ):
        raise _fail(field, "Use an RSA, ECDSA or EdDSA key.")
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertificateFacts(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        fingerprint=hashlib.sha256(der).hexdigest(),
        subject=cert.subject.rfc4514_string()[:500],
        issuer=cert.issuer.rfc4514_string()[:500],
        serial=format(cert.serial_number, "x")[:80],
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        certificate=cert,
    )


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether `ca` signed `cert` (one level: the gateway checks the same)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


MAX_KEY_PEM_BYTES = 16 * 1024


def read_private_key_for(cert: x509.Certificate, text: str, *, field: str = "key_pem") -> str:
    """An unencrypted PEM private key that belongs to `cert`, normalised to PKCS#8 (what nginx loads)."""
    raw = text.strip().encode()
    if not raw:
        raise _fail(field, "Paste the certificate's private key (PEM).")
    if len(raw) > MAX_KEY_PEM_BYTES:
        raise _fail(field, "This is too big for a private key.")
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise _fail(field, "Not a readable, unencrypted PEM private key.") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != cert.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise _fail(field, "This key does not belong to the certificate.")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
