"""Reads shared by the portal pages, the REST API and the expiry task."""

from __future__ import annotations

from django.db.models import QuerySet

from certificates.models import ClientCertificate
from foundation.errors import NotFound
from portal.models import Application


def certificates_of(application: Application) -> QuerySet[ClientCertificate]:
    return ClientCertificate.objects.filter(application=application).select_related("created_by")


def certificate_for_user(user: object, application: Application, certificate_id: int) -> ClientCertificate:
    """One of the application's certificates, visible to `user`; foreign ids are simply not found."""
    cert = (
        ClientCertificate.objects.for_user(user)
        .filter(application=application, pk=certificate_id)
        .select_related("application__organisation")
        .first()
    )
    if cert is None:
        raise NotFound("No such certificate.")
    return cert
