"""Issue #17's end-to-end check: requests carrying card numbers, SSNs, NINOs, email addresses and named fields in
their path, query and JSON body go through a real gateway to the platform (a private stack: PostgreSQL, Redis,
portal, Celery worker, gateway); then the database (every row of every table, from a data-only dump), every file
the stack wrote, the request-log REST API, the request-log pages, their CSV export and the usage pages are
searched for every sensitive value: none is found. The consumer's JSON response is masked too (response mode: JSON
members and strings; a value percent-encoded inside a string, like the echoed URL, is not decoded there).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import psycopg

from redaction.detectors import luhn_valid
from tests.support.private_services import _postgres_bin
from tests.support.private_stack import running_stack
from tests.support.waiting import wait_until

CARD, CARD_SPACED = "4111111111111111", "5500 0000 0000 0004"
SSN, NINO, EMAIL = "123-45-6789", "AB123456C", "ana.silva@example.com"
PASSWORD, CARD_FIELD = "hunter2-Sesame", "opaque-card-token-77"  # no detector knows these: only their names do
SECRETS = (CARD, CARD_SPACED, CARD_SPACED.replace(" ", ""), "5500%200000", SSN, NINO, EMAIL, quote(EMAIL, safe=""),
           PASSWORD, CARD_FIELD)  # fmt: skip

RULES = """
from django.contrib.auth import get_user_model
from portal.models import Api
from redaction.models import RedactionPolicy
from redaction.services import policy_save

user = get_user_model().objects.get(email="ops@example.com")
policy_save(actor=user, policy=RedactionPolicy(api=Api.objects.get(slug="echo"),
            fields=["card_number", "/account/password"], redact_responses=True))
"""
PAGES = """
from django.contrib.auth import get_user_model
from django.test import Client
from portal.models import Application

user = get_user_model().objects.get(email="ops@example.com")
app = Application.objects.get()
client = Client()
client.force_login(user)
for url in (f"/applications/{app.pk}/requests/", f"/applications/{app.pk}/requests.csv",
            f"/applications/{app.pk}/usage/", f"/orgs/{app.organisation_id}/usage/"):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    print(url, len(body))
    print(body.decode())
"""


def _found(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob]


def test_no_sensitive_value_reaches_the_database_a_log_file_or_a_page(tmp_path: Path, upstream: str) -> None:
    assert luhn_valid(CARD) and luhn_valid(CARD_SPACED.replace(" ", ""))
    with running_stack(tmp_path, upstream) as stack:
        gw, key = stack.gateway, stack.seed["key"]
        stack.manage("shell", "-c", RULES)
        wait_until(lambda: gw.get("/echo/x", key).headers.get("X-Portico-Redaction") == "applied", timeout=15,
                   what="rules at the gateway")  # fmt: skip
        answers = [
            gw.get(f"/echo/pay/{CARD}", key),
            gw.get(f"/echo/pay/{quote(CARD_SPACED)}", key),
            gw.get(f"/echo/users/{quote(EMAIL, safe='')}/orders?ref={SSN}", key),
            gw.get(f"/echo/ids/{NINO}?to={EMAIL}", key),
            gw.get(f"/echo/account?card_number={CARD_FIELD}&password={PASSWORD}", key),
            gw.get(f"/echo/card_number/{CARD_FIELD}", key),
            gw.request(
                "POST",
                "/echo/orders",
                key,
                json={
                    "card_number": CARD_FIELD,
                    "account": {"password": PASSWORD, "email": EMAIL},
                    "note": f"card {CARD}, ssn {SSN}, nino {NINO}",
                },
            ),  # fmt: skip
            gw.get(f"/echo/pay/{CARD}"),  # no key: refused, and logged
        ]
        assert [a.status_code for a in answers] == [200] * 7 + [401]
        # the consumer's responses are masked (the echo upstream returns what it was sent)
        body = answers[6].json()["json"]
        assert body["card_number"] == "[redacted]" and body["account"]["password"] == "[redacted]"
        assert body["note"] == "card ************1111, ssn [ssn], nino [nino]"
        assert _found(json.dumps(body).encode()) == []

        app_id = stack.seed["application_id"]
        wanted = len(answers) + 1  # and the request that found the rules in place (at least one)
        access_log = next(tmp_path.rglob("spool/access.log"))
        wait_until(lambda: access_log.read_bytes().count(b"\n") >= wanted, timeout=10, what="access log flushed")

        def events() -> int:
            with psycopg.connect(stack.postgres.url) as conn:
                row = conn.execute("SELECT count(*) FROM analytics_requestevent").fetchone()
            return row[0] if row else 0

        stack.collect_usage()  # what beat does every few seconds
        wait_until(lambda: events() >= wanted, timeout=60, interval=0.5, what="requests collected")
        log = stack.api("GET", f"/api/v1/applications/{app_id}/requests/?page_size=100")
        paths = {row["path"] for row in log.json()["results"]}
        assert {"/echo/pay/************1111", "/echo/pay/************0004", "/echo/users/[email]/orders",
                "/echo/ids/[nino]", "/echo/card_number/[redacted]"} <= paths, paths  # fmt: skip
        shown = log.content + b"".join(
            stack.api("GET", f"/api/v1/applications/{app_id}/requests/{row['request_id']}/").content
            for row in log.json()["results"]
        )
        pages = stack.manage("shell", "-c", PAGES).encode()
        assert b"/echo/pay/************1111" in pages
        dump = subprocess.run(
            [str(_postgres_bin() / "pg_dump"), "--data-only", "--no-owner", stack.postgres.url],
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        assert b"************1111" in dump  # the dump holds the request log
        files = [p for p in [*tmp_path.rglob("*"), stack.postgres.folder / "server.log"] if p.is_file()]
        found = {
            "rest api": _found(shown),
            "pages": _found(pages),
            "database": _found(dump),
            **{str(p): _found(p.read_bytes()) for p in files},
        }
    assert {where: hits for where, hits in found.items() if hits} == {}
    assert any(p.name == "access.log" for p in files) and any(p.name == "error.log" for p in files)
