"""Request validation settings: the mode per API and its compiled document, published to gateways as they commit."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from foundation.audit import audit_record
from foundation.errors import ValidationFailed
from gateway_sync import changes as config_changes
from portal.models import Api
from protection.models import ApiProtection
from protection.openapi import CompileError, compile_document


def document_compile(document: Any) -> tuple[dict[str, Any] | None, str, str]:
    """The compiled form, its digest and "" — or None, "" and the reason the document cannot be enforced."""
    try:
        compiled = compile_document(document)
    except CompileError as error:
        return None, "", str(error)
    digest = hashlib.sha256(json.dumps(compiled, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return compiled, digest, ""


def _refuse_if_unenforceable(mode: str, error: str) -> None:
    if mode != ApiProtection.Mode.OFF and error:
        raise ValidationFailed(
            f"The OpenAPI document cannot be enforced: {error}", field_errors={"openapi_document": [error]}
        )


def _apply(protection: ApiProtection, api: Api) -> bool:
    """Recompiles `api`'s document into `protection`; whether what gateways enforce changed."""
    compiled, digest, error = document_compile(api.openapi_document)
    _refuse_if_unenforceable(protection.validation_mode, error)
    before = (protection.compiled_digest, protection.compile_error)
    protection.compiled, protection.compiled_digest, protection.compile_error = compiled, digest, error
    protection.updated_at = timezone.now()
    return before != (digest, error)


@transaction.atomic
def api_protection_save(*, actor: Any, api: Api, validation_mode: str) -> ApiProtection:
    """Sets an API's validation mode; refused (with the reason) when the mode is on and the document cannot compile."""
    if validation_mode not in ApiProtection.Mode.values:
        raise ValidationFailed(f"Unknown validation mode {validation_mode!r}.")
    protection, _ = ApiProtection.objects.select_for_update().get_or_create(api=api)
    previous = protection.validation_mode
    protection.validation_mode = validation_mode
    changed = _apply(protection, api)
    protection.save()
    if previous != validation_mode:
        audit_record(
            action="api.validation_changed",
            actor=actor,
            target=api,
            data={"slug": api.slug, "from": previous, "to": validation_mode},
        )
    if changed or previous != validation_mode:
        config_changes.record_api(api.pk)
    return protection


def api_document_changed(*, api: Api) -> None:
    """Recompiles a saved API's document (called by portal's api_save, inside its transaction).

    A document the compiler refuses is refused here too while validation is on, so the gateways never keep
    enforcing an old document the admins believe replaced; with validation off it is kept with its reason.
    """
    protection = ApiProtection.objects.select_for_update().filter(api=api).first()
    if protection is None:
        return
    if _apply(protection, api):
        protection.save()
