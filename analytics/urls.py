"""Portal pages of the usage pipeline (REST routes are in analytics.api.urls)."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("applications/<int:application_id>/usage/", views.application_usage, name="application_usage"),
    path("orgs/<int:organisation_id>/usage/", views.organisation_usage, name="organisation_usage"),
    path("applications/<int:application_id>/requests/", views.application_requests, name="application_requests"),
    path(
        "applications/<int:application_id>/requests.csv",
        views.application_requests_csv,
        name="application_requests_csv",
    ),
]
