"""Reads shared by the portal pages, the REST API and the expiry task."""

from __future__ import annotations

from django.db.models import QuerySet

from certificates.models import ClientCertificate
from foundation.errors import NotFound
from foundation.ids import as_object_id
from portal.models import Application


def certificates_of(application: Application) -> QuerySet[ClientCertificate]:
    return ClientCertificate.objects.filter(application=application).select_related("created_by")


def certificate_get(*, user: object, certificate_id: object, application_id: object = None) -> ClientCertificate:
    """A certificate of an application `user` belongs to (optionally a given one); foreign ids are not found."""
    found = ClientCertificate.objects.for_user(user).filter(pk=as_object_id(certificate_id))
    if application_id is not None:
        found = found.filter(application_id=as_object_id(application_id))
    cert = found.select_related("application__organisation").distinct().first()
    if cert is None:
        raise NotFound("Certificate not found.")
    return cert
