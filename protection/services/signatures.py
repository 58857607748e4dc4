"""Attack signature settings: the mode per API, published to gateways as it commits (docs/protection.md)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from foundation.audit import audit_record
from foundation.errors import ValidationFailed
from gateway_sync import changes as config_changes
from portal.models import Api
from protection.models import ApiProtection


@transaction.atomic
def api_signatures_save(*, actor: Any, api: Api, signatures_mode: str) -> ApiProtection:
    """Sets whether gateways look for generic attack signatures in an API's requests, and what they do on a match."""
    if signatures_mode not in ApiProtection.SignaturesMode.values:
        raise ValidationFailed(f"Unknown signatures mode {signatures_mode!r}.")
    protection, _ = ApiProtection.objects.select_for_update().get_or_create(api=api)
    previous = protection.signatures_mode
    if previous == signatures_mode:
        return protection
    protection.signatures_mode = signatures_mode
    protection.updated_at = timezone.now()
    protection.save(update_fields=["signatures_mode", "updated_at"])
    audit_record(
        action="api.signatures_changed",
        actor=actor,
        target=api,
        data={"slug": api.slug, "from": previous, "to": signatures_mode},
    )
    config_changes.record_api(api.pk)
    return protection
