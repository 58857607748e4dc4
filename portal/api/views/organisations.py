"""Organisations, their members and invitations, and the audit log: views only validate and translate."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import PorticoAPIView
from foundation.api.schema import problem
from foundation.models import AuditEvent
from portal import selectors
from portal.api.filters import AuditEventFilter, InvitationFilter
from portal.api.permissions import ANY_MEMBER, MANAGERS, OWNERS
from portal.api.scoped import OrganisationView
from portal.api.serializers import (
    AuditEventSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    OrganisationCreateSerializer,
    OrganisationRenameSerializer,
    OrganisationSerializer,
)
from portal.models import Invitation, Membership
from portal.services.organisations import (
    invitation_create,
    invitation_revoke,
    membership_change_role,
    membership_remove,
    organisation_create,
    organisation_rename,
)

ORGANISATIONS = ["organisations"]
MEMBERS = ["members"]
AUDIT = ["audit log"]


class OrganisationListView(PorticoAPIView):
    """The organisations the requester belongs to; anyone signed in may create one (and owns it)."""

    permission_classes = (IsAuthenticated,)

    def get_queryset(self) -> QuerySet[Membership]:
        if self.is_schema_generation():
            return Membership.objects.none()
        return selectors.memberships_for_user(self.request.user)

    @extend_schema(operation_id="organisations_list", tags=ORGANISATIONS, responses=OrganisationSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.page(self.get_queryset(), OrganisationSerializer)

    @extend_schema(
        operation_id="organisations_create",
        tags=ORGANISATIONS,
        request=OrganisationCreateSerializer,
        responses={201: OrganisationSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.input(OrganisationCreateSerializer)
        organisation = organisation_create(user=request.user, name=data["name"])
        membership = selectors.membership_get(user=request.user, organisation_id=organisation.pk)
        return self.output(OrganisationSerializer, membership, status=201)


class OrganisationDetailView(OrganisationView):
    """One organisation; owners and admins rename it."""

    required_roles = {"GET": ANY_MEMBER, "PATCH": MANAGERS}

    @extend_schema(operation_id="organisations_retrieve", tags=ORGANISATIONS, responses=OrganisationSerializer)
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.output(OrganisationSerializer, self.get_membership())

    @extend_schema(
        operation_id="organisations_rename",
        tags=ORGANISATIONS,
        request=OrganisationRenameSerializer,
        responses=OrganisationSerializer,
    )
    def patch(self, request: Request, organisation_id: int) -> Response:
        data = self.input(OrganisationRenameSerializer)
        membership = self.get_membership()
        organisation_rename(membership=membership, name=data["name"])
        return self.output(OrganisationSerializer, membership)


class MemberListView(OrganisationView):
    """Everyone in the organisation; visible to every member."""

    required_roles = {"GET": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[Membership]:
        if self.is_schema_generation():
            return Membership.objects.none()
        return selectors.members_of(membership=self.get_membership())

    @extend_schema(operation_id="members_list", tags=MEMBERS, responses=MemberSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), MemberSerializer)


class MemberDetailView(OrganisationView):
    """A member: owners change roles; managers remove members, owners remove managers, anyone may leave."""

    # DELETE is open to every member because leaving is removing yourself; the service checks the rest.
    required_roles = {"GET": ANY_MEMBER, "PATCH": OWNERS, "DELETE": ANY_MEMBER}

    def target(self) -> Membership:
        return selectors.member_get(membership=self.get_membership(), member_id=self.kwargs["member_id"])

    @extend_schema(operation_id="members_retrieve", tags=MEMBERS, responses=MemberSerializer)
    def get(self, request: Request, organisation_id: int, member_id: int) -> Response:
        return self.output(MemberSerializer, self.target())

    @extend_schema(
        operation_id="members_change_role",
        tags=MEMBERS,
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, 409: problem("The organisation would be left without an owner.")},
    )
    def patch(self, request: Request, organisation_id: int, member_id: int) -> Response:
        target = self.target()  # an unknown member is a 404 whatever the body says
        data = self.input(MemberRoleSerializer)
        member = membership_change_role(membership=self.get_membership(), target=target, role=data["role"])
        return self.output(MemberSerializer, member)

    @extend_schema(
        operation_id="members_remove",
        tags=MEMBERS,
        responses={204: None, 409: problem("The last owner cannot leave; a personal organisation cannot be left.")},
    )
    def delete(self, request: Request, organisation_id: int, member_id: int) -> Response:
        membership_remove(membership=self.get_membership(), target=self.target())
        return Response(status=204)


class InvitationListView(OrganisationView):
    """Invitations of the organisation; owners and admins send them (only owners may invite owners)."""

    required_roles = {"GET": MANAGERS, "POST": MANAGERS}
    filterset_class = InvitationFilter

    def get_queryset(self) -> QuerySet[Invitation]:
        if self.is_schema_generation():
            return Invitation.objects.none()
        return Invitation.objects.filter(organisation_id=self.get_membership().organisation_id).select_related(
            "invited_by"
        )

    @extend_schema(operation_id="invitations_list", tags=MEMBERS, responses=InvitationSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), InvitationSerializer)

    @extend_schema(
        operation_id="invitations_create",
        tags=MEMBERS,
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, 409: problem("That person is already a member.")},
    )
    def post(self, request: Request, organisation_id: int) -> Response:
        data = self.input(InvitationCreateSerializer)
        invitation = invitation_create(membership=self.get_membership(), email=data["email"], role=data["role"])
        return self.output(InvitationSerializer, invitation, status=201)


class InvitationDetailView(OrganisationView):
    required_roles = {"GET": MANAGERS}

    @extend_schema(operation_id="invitations_retrieve", tags=MEMBERS, responses=InvitationSerializer)
    def get(self, request: Request, organisation_id: int, invitation_id: int) -> Response:
        invitation = selectors.invitation_get(membership=self.get_membership(), invitation_id=invitation_id)
        return self.output(InvitationSerializer, invitation)


class InvitationRevokeView(OrganisationView):
    """Revoking keeps the invitation on record (state `revoked`); its link stops working at once."""

    required_roles = {"POST": MANAGERS}

    @extend_schema(operation_id="invitations_revoke", tags=MEMBERS, request=None, responses=InvitationSerializer)
    def post(self, request: Request, organisation_id: int, invitation_id: int) -> Response:
        membership = self.get_membership()
        invitation = selectors.invitation_get(membership=membership, invitation_id=invitation_id)
        invitation_revoke(membership=membership, invitation=invitation)
        return self.output(InvitationSerializer, invitation)


class AuditEventListView(OrganisationView):
    """The organisation's security trail, newest first; owners and admins only."""

    required_roles = {"GET": MANAGERS}
    filterset_class = AuditEventFilter

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if self.is_schema_generation():
            return AuditEvent.objects.none()
        return selectors.audit_events_for(membership=self.get_membership())

    @extend_schema(operation_id="audit_events_list", tags=AUDIT, responses=AuditEventSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), AuditEventSerializer)
