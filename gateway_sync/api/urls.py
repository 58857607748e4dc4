"""/gateway/v1/: the endpoints gateways call (docs/gateway-protocol.md)."""

from django.urls import path

from gateway_sync.api import views

app_name = "gateway_api"

urlpatterns = [
    path("config", views.ConfigView.as_view(), name="config"),
    path("changes", views.ChangesView.as_view(), name="changes"),
    path("heartbeat", views.HeartbeatView.as_view(), name="heartbeat"),
]
