"""Every add, change and delete a staff member makes in the admin is in the audit trail, with them as actor."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.test import Client

from foundation.admin import AuditedModelAdmin
from foundation.audit_chain import chain_verify
from foundation.models import AuditEvent
from portal.models import Membership, Plan
from tests.portal.test_admin_plans import _plan_form


def test_every_model_in_the_admin_is_audited() -> None:
    plain = [model._meta.label for model, model_admin in admin.site._registry.items()
             if not isinstance(model_admin, AuditedModelAdmin)]  # fmt: skip
    assert plain == []


def test_admins_from_libraries_are_audited_too(staff_client: Client, staff: Any) -> None:
    assert staff_client.post("/admin/auth/group/add/", {"name": "Operators"}).status_code == 302
    event = AuditEvent.objects.get(action="admin.added")
    assert event.actor == staff and event.target_label == "Operators" and event.data["model"] == "auth.Group"


def test_staff_adding_changing_and_deleting_a_plan_are_the_audited_actor(
    staff_client: Client, staff: Any, api: Any
) -> None:
    assert staff_client.post("/admin/portal/plan/add/", _plan_form(api)).status_code == 302
    plan = Plan.objects.get(slug="gold")
    staff_client.post(f"/admin/portal/plan/{plan.pk}/change/", _plan_form(api, name="Platinum"))
    assert staff_client.post(f"/admin/portal/plan/{plan.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Plan.objects.filter(pk=plan.pk).exists()
    events = list(AuditEvent.objects.filter(action__startswith="admin.").order_by("seq"))
    assert [event.action for event in events] == ["admin.added", "admin.changed", "admin.deleted"]
    assert all(event.actor == staff and event.target_id == str(plan.pk) for event in events)
    assert events[1].data == {"model": "portal.Plan", "changes": [{"changed": {"fields": ["Name"]}}]}
    assert chain_verify().broken is None


def test_staff_removing_a_member_is_filed_under_the_organisation(
    staff_client: Client, staff: Any, org: Any, bob: Any
) -> None:
    membership = Membership.objects.get(organisation=org, user=bob)
    staff_client.post(f"/admin/portal/membership/{membership.pk}/delete/", {"post": "yes"})
    event = AuditEvent.objects.get(action="admin.deleted")
    assert event.actor == staff and event.organisation_id == org.pk and event.target_id == str(membership.pk)


def test_a_refused_bulk_deletion_leaves_no_audit_event(staff_client: Client, org: Any, alice: Any, bob: Any) -> None:
    selected = list(Membership.objects.filter(organisation=org).values_list("pk", flat=True))  # alice is the owner
    page = staff_client.post(
        "/admin/portal/membership/",
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
        follow=True,
    )
    assert "at least one owner" in page.content.decode()
    assert Membership.objects.filter(organisation=org).count() == len(selected)
    assert not AuditEvent.objects.filter(action="admin.deleted").exists()
