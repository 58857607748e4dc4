"""The test OpenID Connect provider (tests/support/oidc_provider/) as a process: its own SQLite database, an RSA
key generated at start, `runserver` on a free loopback port, and seeding of its client and users."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.ports import free_port
from tests.support.processes import PYTHON, REPO, spawn, stop
from tests.support.waiting import wait_until

SETTINGS = "tests.support.oidc_provider.settings"
RSA_BITS = 2048
RSA_EXPONENT = 65537
PASSWORD = "provider-pass-phrase-17"


@dataclass
class OidcProvider:
    """One running provider; `issuer` is what admins enter as the provider's issuer URL."""

    folder: Path
    port: int = field(default_factory=free_port)
    client_id: str = field(default_factory=lambda: "portico-" + secrets.token_hex(4))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    @property
    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "OIDC_PROVIDER_SECRET_KEY": "oidc-provider-" + "k" * 50,
            "OIDC_PROVIDER_DB": str(self.folder / "provider.sqlite3"),
            "OIDC_PROVIDER_KEY_FILE": str(self.folder / "signing-key.pem"),
        }

    def _manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [PYTHON, "-m", "django", *args], cwd=REPO, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def start(self, redirect_uri: str) -> OidcProvider:
        """Generate the signing key, migrate, register the portal as a client with redirect_uri, serve."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=RSA_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (self.folder / "signing-key.pem").write_bytes(pem)
        self._manage("migrate", "--no-input", "-v", "0")
        client = {"client_id": self.client_id, "client_secret": self.client_secret, "redirect_uris": redirect_uri}
        self._manage("oidc_seed", stdin=json.dumps({"client": client}))
        self.process = spawn(
            [PYTHON, "-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            self.folder / "provider.log",
            self.env,
        )
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        wait_until(lambda: requests.get(discovery, timeout=1).ok, 30, what="OIDC provider up")
        return self

    def add_user(self, username: str, email: str) -> None:
        """A person who can sign in at the provider with PASSWORD (email_verified unless "unverified-…")."""
        self._manage("oidc_seed", stdin=json.dumps({"users": [{"username": username, "email": email,
                                                              "password": PASSWORD}]}))  # fmt: skip

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def sso_sign_in(
    portal_url: str, username: str, *, session: requests.Session | None = None, process: str = "login"
) -> tuple[requests.Session, requests.Response]:
    """As a browser without JavaScript: "Log in with …" on the portal's login page (or, with process="connect" in
    a signed-in session, "connect"), the provider's login form, and every redirect back. Returns the session
    (portal and provider cookies) and the last answer."""
    session = session or requests.Session()
    for cookie in [c for c in session.cookies if c.name.startswith("oidc_provider")]:
        session.cookies.clear(cookie.domain, cookie.path, cookie.name)  # a fresh sign-in at the provider each time
    session.get(f"{portal_url}/accounts/login/", timeout=10).raise_for_status()
    at_provider = session.post(
        f"{portal_url}/accounts/oidc/corp/login/?process={process}",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert "Test identity provider" in at_provider.text, (at_provider.url, at_provider.status_code)
    back = session.post(
        at_provider.url,  # its ?next= is the authorization request
        data={
            "csrfmiddlewaretoken": session.cookies["oidc_provider_csrf"],
            "username": username,
            "password": PASSWORD,
        },
        timeout=20,
    )
    return session, back
