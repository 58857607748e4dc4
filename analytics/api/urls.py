"""REST routes for usage (conventions: see portal.api.urls)."""

from django.urls import path

from analytics.api import views

app_name = "analytics_api"

urlpatterns = [
    path("applications/<int:application_id>/usage/", views.ApplicationUsageView.as_view(), name="usage"),
]
