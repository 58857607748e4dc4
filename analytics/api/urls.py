"""REST routes for usage (conventions: see portal.api.urls)."""

from django.urls import path

from analytics.api import views

app_name = "analytics_api"

urlpatterns = [
    path("applications/<int:application_id>/usage/", views.ApplicationUsageView.as_view(), name="usage"),
    path(
        "applications/<int:application_id>/usage/endpoints/",
        views.ApplicationEndpointUsageView.as_view(),
        name="usage_endpoints",
    ),
    path("applications/<int:application_id>/requests/", views.RequestLogView.as_view(), name="requests"),
    path("organisations/<int:organisation_id>/usage/", views.OrganisationUsageView.as_view(), name="org_usage"),
    path(
        "applications/<int:application_id>/requests/<str:request_id>/",
        views.RequestDetailView.as_view(),
        name="request",
    ),
]
