"""/api/v1/: each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("portal.api.urls")),
    path("", include("keys.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("anomalies.api.urls")),
    path("", include("certificates.api.urls")),
]
