"""Client certificates for mTLS tests (docs/mtls.md): issued by a ThrowawayCA or self-signed, with the snapshot
entry a gateway pins them by."""

from __future__ import annotations

import datetime
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class ClientCert:
    """A client certificate's files (for requests' cert=) and its SHA-256 fingerprint (hex of the DER)."""

    cert: Path
    key: Path
    fingerprint: str
    pem: str

    @property
    def pair(self) -> tuple[str, str]:
        return str(self.cert), str(self.key)

    def entry(self, application_id: int = 5, organisation_id: int = 2, **overrides: Any) -> dict[str, Any]:
        """Its snapshot entry ("client_certs"): active, valid from an hour ago for a day."""
        now = int(time.time())
        entry = {
            "fingerprint": self.fingerprint,
            "application_id": application_id,
            "organisation_id": organisation_id,
            "not_before": now - 3600,
            "not_after": now + 86400,
            "status": "active",
        }
        entry.update(overrides)
        return entry


def make_client_cert(
    folder: Path,
    name: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    days: float = 1.0,
    start_days_ago: float = 0.0,
) -> ClientCert:
    """A certificate for `name`, signed by `issuer` (cert, key) or self-signed; `ca` marks it a CA."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=start_days_ago, minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ClientCert(cert_path, key_path, fingerprint, pem.decode())
