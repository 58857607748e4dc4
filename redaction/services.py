"""Changing an API's redaction rules: gateways receive them with the API, in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from foundation.audit import audit_record
from gateway_sync import changes as config_changes
from redaction.models import RedactionPolicy


@transaction.atomic
def policy_save(*, actor: Any, policy: RedactionPolicy) -> RedactionPolicy:
    """Create or update an API's rules and publish the API again (its edge entry carries them)."""
    created = policy.pk is None
    policy.full_clean()
    policy.save()
    audit_record(
        action="redaction.created" if created else "redaction.updated",
        actor=actor,
        target=policy.api,
        data={
            "fields": len(policy.fields),
            "cards": policy.detect_cards,
            "national_ids": policy.detect_national_ids,
            "emails": policy.detect_emails,
            "responses": policy.redact_responses,
        },
    )
    config_changes.record_api(policy.api_id)
    return policy


@transaction.atomic
def policy_delete(*, actor: Any, policy: RedactionPolicy) -> None:
    """Remove an API's rules: its requests are logged as they come again."""
    api_id = policy.api_id
    audit_record(action="redaction.deleted", actor=actor, target=policy.api, data={})
    policy.delete()
    config_changes.record_api(api_id)
