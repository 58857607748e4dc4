"""Portal pages (server-rendered). Organisation-wide pages carry the organisation id; objects are reached by
their own id through user-scoped selectors, so a foreign id is a 404 wherever it appears."""

from django.urls import include, path

from portal.views import account, applications, audit, catalog, dashboard, organisations, problems

app_name = "portal"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    # Organisations, members and invitations
    path("orgs/", organisations.organisation_list, name="organisation_list"),
    path("orgs/new/", organisations.organisation_create, name="organisation_create"),
    path("orgs/<int:organisation_id>/switch/", organisations.organisation_switch, name="organisation_switch"),
    path("orgs/<int:organisation_id>/members/", organisations.organisation_members, name="organisation_members"),
    path("orgs/<int:organisation_id>/settings/", organisations.organisation_rename, name="organisation_rename"),
    path("orgs/<int:organisation_id>/members/invite/", organisations.member_invite, name="member_invite"),
    path(
        "orgs/<int:organisation_id>/members/<int:member_id>/role/",
        organisations.member_change_role,
        name="member_change_role",
    ),
    path(
        "orgs/<int:organisation_id>/members/<int:member_id>/remove/",
        organisations.member_remove,
        name="member_remove",
    ),
    path(
        "orgs/<int:organisation_id>/invitations/<int:invitation_id>/revoke/",
        organisations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("orgs/<int:organisation_id>/audit/", audit.audit_log, name="audit_log"),
    path("invitations/<str:token>/", organisations.invitation_accept, name="invitation_accept"),
    # Catalog
    path("catalog/", catalog.catalog, name="catalog"),
    path("catalog/<slug:slug>/", catalog.api_detail, name="api_detail"),
    path("catalog/<slug:slug>/subscribe/", catalog.api_subscribe, name="api_subscribe"),
    path("catalog/<slug:slug>/try/", catalog.api_console, name="api_console"),
    # Applications and subscriptions
    path("applications/", applications.application_index, name="application_index"),
    path("orgs/<int:organisation_id>/applications/", applications.application_list, name="application_list"),
    path("orgs/<int:organisation_id>/applications/new/", applications.application_create, name="application_create"),
    path("applications/<int:application_id>/", applications.application_detail, name="application_detail"),
    path("applications/<int:application_id>/edit/", applications.application_edit, name="application_edit"),
    path("applications/<int:application_id>/delete/", applications.application_delete, name="application_delete"),
    path(
        "applications/<int:application_id>/subscribe/",
        applications.application_subscribe,
        name="application_subscribe",
    ),
    path(
        "subscriptions/<int:subscription_id>/plan/",
        applications.subscription_change_plan,
        name="subscription_change_plan",
    ),
    path("subscriptions/<int:subscription_id>/cancel/", applications.subscription_cancel, name="subscription_cancel"),
    # What each problem+json type means (public)
    path("problems/", problems.problem_list, name="problem_list"),
    path("problems/<slug:slug>/", problems.problem_detail, name="problem_detail"),
    # Account
    path("account/security/", account.account_security, name="account_security"),
    # API keys and personal access tokens (their names join this namespace: portal:key_create, …)
    path("", include("keys.urls")),
    path("", include("certificates.urls")),  # client certificates (mTLS): portal:certificate_list, …
]
