"""The organisation audit log: managers only, filterable, paginated, values escaped."""

from __future__ import annotations

from typing import Any

from django.test import Client

from foundation.audit import audit_record
from tests.portal.pages_helpers import htmx_get, text


def test_owners_see_the_organisations_events_and_nobody_elses(alice_client: Client, org: Any, charlie_org: Any) -> None:
    audit_record(action="application.created", organisation=org, actor_label="ops@example.com")
    audit_record(action="application.created", organisation=charlie_org, actor_label="charlie-ops@example.com")
    response = alice_client.get(f"/orgs/{org.pk}/audit/")
    assert "ops@example.com" in text(response) and "charlie-ops@example.com" not in text(response)
    assert all(event.organisation_id == org.pk for event in response.context["page"].object_list)


def test_members_get_403_on_the_audit_log(bob_client: Client, org: Any) -> None:
    assert bob_client.get(f"/orgs/{org.pk}/audit/").status_code == 403


def test_the_audit_log_filters_by_action_and_htmx_gets_only_the_table(alice_client: Client, org: Any) -> None:
    audit_record(action="key.created", organisation=org, data={"prefix": "ptc_live_abc"})
    audit_record(action="key.revoked", organisation=org, data={"prefix": "ptc_live_abc"})
    response = htmx_get(alice_client, f"/orgs/{org.pk}/audit/?action=key.revoked")
    page = text(response)
    assert page.startswith('<section class="card" id="audit-table">')
    assert "key.revoked" in page and "key.created" not in page
    assert "No events for unknown" in text(alice_client.get(f"/orgs/{org.pk}/audit/?action=unknown"))


def test_the_audit_log_is_paginated(alice_client: Client, org: Any) -> None:
    for _ in range(30):  # one by one: every event is a link of the hash chains
        audit_record(action="test.event", organisation=org)
    first = alice_client.get(f"/orgs/{org.pk}/audit/?action=test.event")
    assert len(first.context["page"].object_list) == 25 and "Page 1 of 2" in text(first)
    second = alice_client.get(f"/orgs/{org.pk}/audit/?action=test.event&page=2")
    assert len(second.context["page"].object_list) == 5
    assert alice_client.get(f"/orgs/{org.pk}/audit/?page=999").status_code == 200


def test_audit_values_are_rendered_escaped(alice_client: Client, org: Any) -> None:
    audit_record(
        action="member.invited",
        organisation=org,
        actor_label='<img src=x onerror="alert(1)">',
        data={"email": "<script>alert(2)</script>", "items": "not a method"},
    )
    page = text(alice_client.get(f"/orgs/{org.pk}/audit/"))
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "not a method" in page
