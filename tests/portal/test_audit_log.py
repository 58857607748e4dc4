"""Audit events keep hostile values as data: one JSON line per event, nothing forged."""

import io
import json
import logging

import pytest
from django.conf import settings

from foundation.audit import audit_record
from foundation.models import AuditEvent


@pytest.fixture
def json_log():
    """Capture the portico.audit logger through the production JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    factory = formatter_config.pop("()")
    handler.setFormatter(factory(**formatter_config))
    logger = logging.getLogger("portico.audit")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_newlines_and_ansi_in_a_username_cannot_forge_log_lines(db, json_log) -> None:
    hostile = 'mallory\n{"event": "audit", "action": "key.revoked"}\r\n\x1b[31mroot'
    audit_record(action="account.login_failed", actor_label=hostile, data={"identifier": hostile})
    lines = json_log.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["action"] == "account.login_failed" and record["actor"] == hostile
    assert AuditEvent.objects.get().data["identifier"] == hostile


def test_failed_login_is_audited_with_ip_and_agent(client, alice) -> None:
    client.post(
        "/accounts/login/",
        {"login": alice.email, "password": "wrong"},
        HTTP_USER_AGENT="pytest-agent",
        REMOTE_ADDR="203.0.113.9",
    )
    event = AuditEvent.objects.get(action="account.login_failed")
    assert event.actor_label == alice.email and event.ip_address == "203.0.113.9"
    assert event.user_agent == "pytest-agent"
