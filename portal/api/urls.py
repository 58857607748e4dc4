"""REST routes for organisations, members, applications, subscriptions, the audit log and the catalog.

Conventions: collections nest under what scopes them (`/organisations/{id}/applications/`); objects live at
`/<things>/{id}/`. Objects that end but stay on record (invitations, subscriptions, keys, tokens) end with
`POST …/{id}/<verb>/`; objects that disappear (applications, memberships) answer DELETE. Updates are PATCH.
"""

from django.urls import path

from portal.api.views import applications, catalog, index, organisations

app_name = "portal_api"

urlpatterns = [
    path("", index.ApiIndexView.as_view(), name="index"),
    path("organisations/", organisations.OrganisationListView.as_view(), name="organisation-list"),
    path(
        "organisations/<int:organisation_id>/",
        organisations.OrganisationDetailView.as_view(),
        name="organisation-detail",
    ),
    path(
        "organisations/<int:organisation_id>/members/",
        organisations.MemberListView.as_view(),
        name="member-list",
    ),
    path(
        "organisations/<int:organisation_id>/members/<int:member_id>/",
        organisations.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path(
        "organisations/<int:organisation_id>/invitations/",
        organisations.InvitationListView.as_view(),
        name="invitation-list",
    ),
    path(
        "organisations/<int:organisation_id>/invitations/<int:invitation_id>/",
        organisations.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path(
        "organisations/<int:organisation_id>/invitations/<int:invitation_id>/revoke/",
        organisations.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path(
        "organisations/<int:organisation_id>/audit-events/",
        organisations.AuditEventListView.as_view(),
        name="audit-event-list",
    ),
    path(
        "organisations/<int:organisation_id>/applications/",
        applications.ApplicationListView.as_view(),
        name="application-list",
    ),
    path(
        "organisations/<int:organisation_id>/subscriptions/",
        applications.OrganisationSubscriptionListView.as_view(),
        name="organisation-subscription-list",
    ),
    path("applications/", applications.MyApplicationListView.as_view(), name="my-application-list"),
    path("applications/<int:application_id>/", applications.ApplicationDetailView.as_view(), name="application-detail"),
    path(
        "applications/<int:application_id>/subscriptions/",
        applications.ApplicationSubscriptionListView.as_view(),
        name="subscription-list",
    ),
    path(
        "subscriptions/<int:subscription_id>/",
        applications.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<int:subscription_id>/cancel/",
        applications.SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
    path("apis/", catalog.ApiListView.as_view(), name="api-list"),
    path("apis/<slug:slug>/", catalog.ApiDetailView.as_view(), name="api-detail"),
    path("apis/<slug:slug>/plan-comparison/", catalog.PlanComparisonView.as_view(), name="api-plan-comparison"),
    path("apis/<slug:slug>/openapi/", catalog.ApiOpenApiView.as_view(), name="api-openapi"),
]
