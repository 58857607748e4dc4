"""CRLF (header) injection in every header the platform or the gateway echoes or forwards.

Platform: the client's X-Request-Id (django-structlog logs it, nothing echoes it), every redirect that takes a
`next` (allauth's login, the organisation switch, "create an application and come back", the admin login), and
the headers of the emails people can put words into (invitations carry an organisation's name and an address).
Gateway (a real nginx): the request id it echoes in `X-Request-Id` and forwards upstream. HTTP framing forbids a
raw CR or LF in a header, so what reaches the gateway is a bare CR, an obs-fold continuation, or an encoded one.
"""

from __future__ import annotations

import email
import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from django.test import Client

from portal.models import Organisation
from tests.support.problems import assert_problem
from tests.support.snapshots import api_entry, key_entry, snapshot

INJECTED = "X-Injected"
# the last two are not paths: redirect() would take them for view names (once a 500)
PAYLOADS = [
    "/orgs/\r\nX-Injected: 1",
    "/orgs/%0d%0aX-Injected:%201",
    "/orgs/\nX-Injected: 1",
    "\r\n\r\n<html>",
    "dashboard",
]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes, through the project's own JSON formatter (config/settings.py LOGGING)."""
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def _assert_clean_headers(response: Any) -> None:
    assert response.status_code < 500
    for name, value in response.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        assert name.lower() != INJECTED.lower()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_redirects_that_take_next_never_carry_a_line_break(alice_client, org, payload) -> None:
    answers = [
        alice_client.get("/accounts/login/", {"next": payload}),
        alice_client.post(f"/orgs/{org.pk}/switch/", {"next": payload}),
        alice_client.post(f"/orgs/{org.pk}/applications/new/?next={payload}", {"name": "Back", "description": ""}),
        alice_client.get("/admin/login/", {"next": payload}),
        Client().get("/admin/login/", {"next": payload}),
    ]
    for response in answers:
        _assert_clean_headers(response)
        assert response.status_code == 302


@pytest.mark.parametrize("trusted", [False, True])
def test_a_request_id_with_line_breaks_is_neither_echoed_nor_splits_a_log_line(
    alice_pat, json_log, settings, trusted
) -> None:
    # By default django-structlog makes its own request ids; an operator may trust the proxy's instead.
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = trusted
    forged = "abc\r\nX-Injected: 1\r\n\r\n{}"
    response = alice_pat.get("/api/v1/nowhere/", HTTP_X_REQUEST_ID=forged)  # a 404 is logged, with the request id
    assert response.status_code == 404
    _assert_clean_headers(response)
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert records  # one event, one line: had a line been split, json.loads would have failed above
    assert any(record.get("request_id") == forged for record in records) is trusted
    assert not any(INJECTED in record for record in records)


def test_email_headers_cannot_be_injected_through_an_invitation(alice_pat, org, mailoutbox) -> None:
    url = f"/api/v1/organisations/{org.pk}/invitations/"
    for address in ("eve@example.com\r\nBcc: mallory@example.com", "eve@example.com\nBcc: mallory@example.com"):
        assert_problem(alice_pat.post(url, {"email": address}, format="json"), 400)
    for separator in ("\r\n", "\n", "\x85", "\u2028", "\u2029"):
        name = f"Acme{separator}Bcc: mallory@example.com"
        assert_problem(alice_pat.patch(f"/api/v1/organisations/{org.pk}/", {"name": name}, format="json"), 400)
    assert mailoutbox == []


@pytest.mark.parametrize("stored", ["Acme\r\nBcc: mallory@example.com", "Acme\u2028Bcc: mallory@example.com"])
def test_a_name_stored_before_the_rule_cannot_break_an_email_header(
    alice_pat, org, mailoutbox, django_capture_on_commit_callbacks, stored
) -> None:
    Organisation.objects.filter(pk=org.pk).update(name=stored)  # e.g. a row older than the single-line rule
    with django_capture_on_commit_callbacks(execute=True):
        invited = alice_pat.post(
            f"/api/v1/organisations/{org.pk}/invitations/", {"email": "eve@example.com"}, format="json"
        )
    assert invited.status_code == 201
    (sent,) = mailoutbox
    parsed = email.message_from_bytes(sent.message().as_bytes())
    assert parsed.get_all("Bcc") is None and parsed["To"] == "eve@example.com"
    assert sorted(parsed.keys()) == sorted(sent.message().keys())
    assert "mallory" in sent.subject  # the name is still shown, on one line
    assert "\r" not in sent.subject and "\n" not in sent.subject and "\u2028" not in sent.subject


# --------------------------------------------------------------------------- the gateway (a real nginx)


def _raw(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _headers(answer: bytes) -> list[bytes]:
    return answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]


@pytest.mark.parametrize(
    "smuggled",
    [
        b"abc\rX-Injected: 1",  # a bare CR
        b"abc\r\n X-Injected: 1",  # an obs-fold continuation line
        b"abc\r\n\tX-Injected: 1",
        b"abc\x00X-Injected: 1",  # NUL
    ],
)
def test_the_gateway_refuses_a_request_id_that_smuggles_a_line(start_gateway, upstream, smuggled) -> None:
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    head = b"GET /demo/x HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.secret.encode() + b"\r\n"
    answer = _raw(gw.port, head + b"X-Request-Id: " + smuggled + b"\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert not any(line.lower().startswith(INJECTED.lower().encode()) for line in _headers(answer))


def test_the_gateway_echoes_and_forwards_an_encoded_break_as_text(start_gateway, upstream) -> None:
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    encoded = "abc%0d%0aX-Injected:%201"
    answer = gw.get("/demo/x", key=key.secret, headers={"X-Request-Id": encoded})
    assert answer.status_code == 200
    assert answer.headers["X-Request-Id"] == encoded
    assert INJECTED not in answer.headers
    forwarded = {name.lower(): value for name, value in answer.json()["headers"].items()}
    assert forwarded["x-request-id"] == encoded
    assert INJECTED.lower() not in forwarded


def test_a_refusal_carries_the_request_id_escaped_in_its_json(start_gateway, upstream) -> None:
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key_entry()]))
    hostile = 'abc","status":200,"x":"\\'
    answer = gw.get("/demo/x", headers={"X-Request-Id": hostile})
    assert answer.status_code == 401
    body = answer.json()
    assert body["request_id"] == hostile and body["status"] == 401
