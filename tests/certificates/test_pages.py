"""Client-certificate pages of an application: upload (pasted or a file), clear errors, list, revoke; outsiders
get 404."""

from __future__ import annotations

import html
import re
import shlex
import subprocess
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from certificates.models import ClientCertificate
from tests.portal.pages_helpers import text
from tests.support.api_fixtures import registered_certificate
from tests.support.client_certs import make_client_cert


def _page(application: Any) -> str:
    return f"/applications/{application.pk}/certificates/"


def test_a_pasted_certificate_is_listed_with_its_fingerprint_subject_and_days_left(
    alice_client: Client, application: Any, tmp_path: Any
) -> None:
    client = make_client_cert(tmp_path, "billing-backend", days=10)

    response = alice_client.post(_page(application), {"name": "Billing", "pem": client.pem})

    assert response.status_code == 302
    page = text(alice_client.get(_page(application), follow=True))
    cert = ClientCertificate.objects.get()
    assert cert.fingerprint == client.fingerprint
    assert cert.fingerprint_display in page and "CN=billing-backend" in page
    assert "9 days left" in page or "10 days left" in page


def test_a_certificate_can_be_uploaded_as_a_file(bob_client: Client, application: Any, tmp_path: Any) -> None:
    client = make_client_cert(tmp_path, "from-file")
    upload = SimpleUploadedFile("client.crt", client.pem.encode(), content_type="application/x-x509-ca-cert")

    response = bob_client.post(_page(application), {"name": "File", "pem_file": upload})

    assert response.status_code == 302
    assert ClientCertificate.objects.get().subject == "CN=from-file"


def test_a_bad_certificate_re_renders_the_form_with_the_reason(
    alice_client: Client, application: Any, tmp_path: Any
) -> None:
    key_pem = make_client_cert(tmp_path, "k").key.read_text()

    response = alice_client.post(_page(application), {"name": "Oops", "pem": key_pem})
    empty = alice_client.post(_page(application), {"name": "Nothing"})

    assert response.status_code == 200
    assert "This contains a private key: never upload it." in text(response)
    assert "Paste a PEM certificate or choose a file." in text(empty)
    assert not ClientCertificate.objects.exists()


def test_revoking_asks_first_then_marks_it_revoked(alice_client: Client, application: Any, tmp_path: Any) -> None:
    alice_client.post(_page(application), {"name": "A", "pem": make_client_cert(tmp_path, "a").pem})
    cert = ClientCertificate.objects.get()

    confirm = alice_client.get(f"/certificates/{cert.pk}/revoke/")
    done = alice_client.post(f"/certificates/{cert.pk}/revoke/")

    assert confirm.status_code == 200 and "Revoke A?" in text(confirm)
    assert done["Location"] == _page(application)
    cert.refresh_from_db()
    assert cert.revoked_at is not None


def test_an_outsider_gets_404_on_every_certificate_page(
    charlie_client: Client, application: Any, tmp_path: Any, alice: Any
) -> None:
    cert = registered_certificate(application)

    assert charlie_client.get(_page(application)).status_code == 404
    assert charlie_client.post(_page(application), {"name": "x", "pem": "x"}).status_code == 404
    assert charlie_client.get(f"/certificates/{cert.pk}/revoke/").status_code == 404
    assert charlie_client.post(f"/certificates/{cert.pk}/revoke/").status_code == 404
    cert.refresh_from_db()
    assert cert.revoked_at is None


def test_the_application_page_links_to_its_certificates(alice_client: Client, application: Any) -> None:
    assert _page(application) in text(alice_client.get(f"/applications/{application.pk}/"))


def test_the_certificate_the_pages_openssl_command_makes_is_accepted(
    alice_client: Client, application: Any, tmp_path: Any
) -> None:
    """The command is run as pasted (openssl's default `req -x509` certificate is a CA one, which is refused)."""
    page = alice_client.get(_page(application)).content.decode()
    command = html.unescape(re.search(r"<code>(openssl req [^<]+)</code>", page).group(1))
    subprocess.run(shlex.split(command), cwd=tmp_path, check=True, capture_output=True)
    pem = (tmp_path / "client.crt").read_text()

    response = alice_client.post(_page(application), {"name": "As pasted", "pem": pem})

    assert response.status_code == 302, text(response)
    assert ClientCertificate.objects.filter(application=application, name="As pasted").exists()
