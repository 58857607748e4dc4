"""Portal pages for webhooks (organisation-wide pages carry the organisation id; objects their own id)."""

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("orgs/<int:organisation_id>/webhooks/", views.endpoint_list, name="endpoint_list"),
    path("webhooks/<int:endpoint_id>/", views.endpoint_detail, name="endpoint_detail"),
    path("webhooks/<int:endpoint_id>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("webhooks/<int:endpoint_id>/toggle/", views.endpoint_toggle, name="endpoint_toggle"),
    path("webhooks/<int:endpoint_id>/rotate/", views.endpoint_rotate, name="endpoint_rotate"),
    path("webhooks/<int:endpoint_id>/test/", views.endpoint_test, name="endpoint_test"),
    path("webhooks/<int:endpoint_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("webhook-deliveries/<int:delivery_id>/resend/", views.delivery_resend, name="delivery_resend"),
]
