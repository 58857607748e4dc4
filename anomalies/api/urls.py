"""REST routes for anomaly flags (conventions: see portal.api.urls)."""

from django.urls import path

from anomalies.api import views

app_name = "anomalies_api"

urlpatterns = [
    path("applications/<int:application_id>/anomalies/", views.ApplicationFlagListView.as_view(), name="flags"),
]
