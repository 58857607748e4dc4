"""REST routes for webhook endpoints and deliveries (conventions: see portal.api.urls)."""

from django.urls import path

from webhooks.api import views

app_name = "webhooks_api"

urlpatterns = [
    path("organisations/<int:organisation_id>/webhooks/", views.EndpointListView.as_view(), name="endpoint-list"),
    path("webhooks/<int:endpoint_id>/", views.EndpointDetailView.as_view(), name="endpoint-detail"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        views.EndpointRotateSecretView.as_view(),
        name="endpoint-rotate-secret",
    ),
    path("webhooks/<int:endpoint_id>/test/", views.EndpointTestView.as_view(), name="endpoint-test"),
    path("webhooks/<int:endpoint_id>/deliveries/", views.EndpointDeliveryListView.as_view(), name="delivery-list"),
    path("webhook-deliveries/<int:delivery_id>/resend/", views.DeliveryResendView.as_view(), name="delivery-resend"),
]
