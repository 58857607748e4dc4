"""Client-certificate pages; included by portal/urls.py, so the names live in the `portal` namespace."""

from django.urls import path

from certificates import views

urlpatterns = [
    path("applications/<int:application_id>/certificates/", views.certificate_list, name="certificate_list"),
    path("certificates/<int:certificate_id>/revoke/", views.certificate_revoke, name="certificate_revoke"),
]
