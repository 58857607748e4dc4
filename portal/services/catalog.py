"""The API catalog, edited by staff in the admin: APIs and their plans, published to gateways as they commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from foundation.audit import audit_record
from foundation.errors import Conflict
from gateway_sync import changes as config_changes
from portal.models import Api, Plan
from protection.services.validation import api_document_changed


@transaction.atomic
def api_save(*, actor: Any, api: Api) -> Api:
    """Create or update a published API; gateways receive its routing in the same transaction."""
    created = api.pk is None
    api.full_clean()
    api.save()
    api_document_changed(api=api)  # request validation follows the document (refused if it cannot while on)
    audit_record(action="api.created" if created else "api.updated", actor=actor, target=api, data={"slug": api.slug})
    config_changes.record_api(api.pk)
    return api


@transaction.atomic
def api_delete(*, actor: Any, api: Api) -> None:
    """Remove an API and its plans from the catalog and the gateways; refused while subscriptions refer to it."""
    if api.subscriptions.exists():
        raise Conflict(f"{api.name} has subscriptions; it cannot be deleted.")
    api_id, plan_ids = api.pk, list(api.plans.order_by("pk").values_list("pk", flat=True))
    audit_record(action="api.deleted", actor=actor, target=api, data={"slug": api.slug})
    api.delete()
    config_changes.record_api(api_id)  # recorded after the delete, so it publishes the removal
    for plan_id in plan_ids:
        config_changes.record_plan(plan_id)


@transaction.atomic
def plan_save(*, actor: Any, plan: Plan) -> Plan:
    """Create or update a plan; gateways receive its limits in the same transaction."""
    created = plan.pk is None
    plan.full_clean()
    plan.save()
    audit_record(
        action="plan.created" if created else "plan.updated", actor=actor, target=plan, data={"slug": plan.slug}
    )
    config_changes.record_plan(plan.pk)
    return plan


@transaction.atomic
def plan_delete(*, actor: Any, plan: Plan) -> None:
    """Remove a plan from the catalog and the gateways; refused while subscriptions refer to it."""
    if plan.subscriptions.exists():
        raise Conflict(f"{plan} has subscriptions; it cannot be deleted.")
    plan_id = plan.pk
    audit_record(action="plan.deleted", actor=actor, target=plan, data={"slug": plan.slug})
    plan.delete()
    config_changes.record_plan(plan_id)
