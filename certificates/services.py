"""Every client-certificate and mTLS-policy change: the portal, REST API and admin all call these."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from certificates.models import ClientCertificate, MtlsPolicy, UpstreamCertificate
from certificates.pem import read_certificate, read_private_key_for
from foundation.audit import audit_record
from foundation.errors import Conflict, ValidationFailed
from foundation.limits import limit_check, owner_lock
from gateway_sync import changes as config_changes
from gateway_sync import secrets
from portal.models import Api, Application


@transaction.atomic
def certificate_register(*, actor: Any, application: Application, name: str, pem: str | bytes) -> ClientCertificate:
    """Pin a client certificate to an application; gateways accept it for mTLS APIs within a second."""
    if not application.organisation.is_active:
        raise Conflict("This organisation is suspended.")
    facts = read_certificate(pem)
    owner_lock(application)
    limit_check(
        ClientCertificate.objects.active().filter(application=application, not_after__gt=timezone.now()),
        limit=settings.PORTICO_MAX_CLIENT_CERTIFICATES_PER_APPLICATION,
        what="client certificates per application",
    )
    if ClientCertificate.objects.filter(fingerprint=facts.fingerprint).exists():
        raise Conflict("This certificate is already registered.")
    cert = ClientCertificate(
        application=application,
        name=name.strip() or facts.subject[:100] or "certificate",
        fingerprint=facts.fingerprint,
        pem=facts.pem,
        subject=facts.subject,
        issuer=facts.issuer,
        serial=facts.serial,
        not_before=facts.not_before,
        not_after=facts.not_after,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    cert.full_clean(exclude=["fingerprint", "pem", "subject", "issuer", "serial", "not_before", "not_after"])
    cert.save()
    audit_record(
        action="certificate.registered",
        actor=actor,
        organisation=application.organisation,
        target=cert,
        data={"fingerprint": cert.fingerprint, "subject": cert.subject},
    )
    config_changes.record_client_certificates([cert])
    return cert


@transaction.atomic
def certificate_revoke(*, actor: Any, certificate: ClientCertificate) -> ClientCertificate:
    """Revoke now; idempotent. Gateways refuse the certificate from the next pushed delta on."""
    cert = (
        ClientCertificate.objects.select_for_update().select_related("application__organisation").get(pk=certificate.pk)
    )
    if cert.revoked_at is not None:
        return cert
    cert.revoked_at = timezone.now()
    cert.save(update_fields=["revoked_at"])
    audit_record(
        action="certificate.revoked",
        actor=actor,
        organisation=cert.application.organisation,
        target=cert,
        data={"fingerprint": cert.fingerprint},
    )
    config_changes.record_client_certificates([cert])
    return cert


@transaction.atomic
def mtls_policy_set(*, actor: Any, api: Api, mode: str, ca_pem: str = "") -> MtlsPolicy:
    """Set whether an API requires client certificates (and from which CA); published to gateways at once."""
    if mode not in MtlsPolicy.Mode.values:
        raise ValidationFailed(
            "Unknown mTLS mode.", field_errors={"mode": [f"Use one of {', '.join(MtlsPolicy.Mode.values)}."]}
        )
    ca_pem = ca_pem.strip()
    if ca_pem:
        ca_pem = read_certificate(ca_pem, field="ca_pem", ca=True).pem
    policy, _ = MtlsPolicy.objects.select_for_update().get_or_create(api=api)
    policy.mode, policy.ca_pem = mode, ca_pem
    policy.save()
    audit_record(
        action="api.mtls_changed",
        actor=actor,
        target=api,
        data={"mode": mode, "ca": bool(ca_pem)},
    )
    config_changes.record_api(api.pk)
    return policy


@transaction.atomic
def upstream_certificate_set(*, actor: Any, api: Api, certificate_pem: str, key_pem: str) -> UpstreamCertificate:
    """The client certificate the API's gateways present to its https upstream; the key is stored encrypted."""
    facts = read_certificate(certificate_pem, field="certificate_pem")
    key = read_private_key_for(facts.certificate, key_pem)
    found, _ = UpstreamCertificate.objects.select_for_update().get_or_create(
        api=api, defaults={"not_after": facts.not_after}
    )
    found.certificate_pem, found.key_encrypted = facts.pem, secrets.encrypt(key)
    found.fingerprint, found.subject, found.not_after = facts.fingerprint, facts.subject, facts.not_after
    found.save()
    audit_record(
        action="api.upstream_certificate_set", actor=actor, target=api, data={"fingerprint": facts.fingerprint}
    )
    config_changes.record_api(api.pk)
    return found


@transaction.atomic
def upstream_certificate_remove(*, actor: Any, api: Api) -> None:
    """Stop presenting a client certificate to the API's upstream."""
    deleted, _ = UpstreamCertificate.objects.filter(api=api).delete()
    if deleted:
        audit_record(action="api.upstream_certificate_removed", actor=actor, target=api)
        config_changes.record_api(api.pk)
