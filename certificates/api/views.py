"""Client certificates of applications (mTLS): views only validate and translate; services decide."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from certificates import selectors, services
from certificates.api.serializers import ClientCertificateCreateSerializer, ClientCertificateSerializer
from certificates.models import ClientCertificate
from foundation.api.schema import problem
from portal.api.permissions import ANY_MEMBER
from portal.api.scoped import ObjectView
from portal.api.views.applications import ApplicationScopedView

TAGS = ["client certificates"]


class ApplicationCertificateListView(ApplicationScopedView):
    """An application's client certificates, newest first; any member may register one."""

    required_roles = {"GET": ANY_MEMBER, "POST": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[ClientCertificate]:
        if self.is_schema_generation():
            return ClientCertificate.objects.none()
        return selectors.certificates_of(self.get_object())

    @extend_schema(operation_id="certificates_list", tags=TAGS, responses=ClientCertificateSerializer(many=True))
    def get(self, request: Request, application_id: int) -> Response:
        return self.page(self.get_queryset(), ClientCertificateSerializer)

    @extend_schema(
        operation_id="certificates_create",
        tags=TAGS,
        request=ClientCertificateCreateSerializer,
        responses={
            201: ClientCertificateSerializer,
            409: problem("Already registered, or the application has its maximum of certificates."),
        },
    )
    def post(self, request: Request, application_id: int) -> Response:
        data = self.input(ClientCertificateCreateSerializer)
        cert = services.certificate_register(
            actor=request.user, application=self.get_object(), name=data["name"], pem=data["pem"]
        )
        return self.output(ClientCertificateSerializer, cert, status=201)


class CertificateView(ObjectView):
    """Base for /certificates/{certificate_id}/…: the certificate's application decides the organisation."""

    def load_object(self) -> ClientCertificate:
        return selectors.certificate_get(user=self.request.user, certificate_id=self.kwargs["certificate_id"])

    def object_organisation_id(self, obj: ClientCertificate) -> int:
        return obj.application.organisation_id


class CertificateDetailView(CertificateView):
    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(operation_id="certificates_retrieve", tags=TAGS, responses=ClientCertificateSerializer)
    def get(self, request: Request, certificate_id: int) -> Response:
        return self.output(ClientCertificateSerializer, self.get_object())


class CertificateRevokeView(CertificateView):
    """Revoke at once: gateways refuse the certificate within a second. Revoking twice is harmless."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(operation_id="certificates_revoke", tags=TAGS, request=None, responses=ClientCertificateSerializer)
    def post(self, request: Request, certificate_id: int) -> Response:
        cert = services.certificate_revoke(actor=request.user, certificate=self.get_object())
        return self.output(ClientCertificateSerializer, cert)
