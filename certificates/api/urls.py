"""REST routes for client certificates (conventions: see portal.api.urls)."""

from django.urls import path

from certificates.api import views

app_name = "certificates_api"

urlpatterns = [
    path(
        "applications/<int:application_id>/certificates/",
        views.ApplicationCertificateListView.as_view(),
        name="certificate-list",
    ),
    path("certificates/<int:certificate_id>/", views.CertificateDetailView.as_view(), name="certificate-detail"),
    path("certificates/<int:certificate_id>/revoke/", views.CertificateRevokeView.as_view(), name="certificate-revoke"),
]
