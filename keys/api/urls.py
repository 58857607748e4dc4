"""REST routes for API keys and personal access tokens (conventions: see portal.api.urls)."""

from django.urls import path

from keys.api import (
    clients,
    schema,  # noqa: F401  (registers the token security scheme with drf-spectacular)
    views,
)

app_name = "keys_api"

urlpatterns = [
    path("applications/<int:application_id>/keys/", views.ApplicationKeyListView.as_view(), name="key-list"),
    path("keys/<int:key_id>/", views.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<int:key_id>/rotate/", views.KeyRotateView.as_view(), name="key-rotate"),
    path("keys/<int:key_id>/revoke/", views.KeyRevokeView.as_view(), name="key-revoke"),
    path(
        "applications/<int:application_id>/clients/",
        clients.ApplicationClientListView.as_view(),
        name="oauth-client-list",
    ),
    path("clients/<int:oauth_client_id>/", clients.ClientDetailView.as_view(), name="oauth-client-detail"),
    path("clients/<int:oauth_client_id>/rotate/", clients.ClientRotateView.as_view(), name="oauth-client-rotate"),
    path("clients/<int:oauth_client_id>/revoke/", clients.ClientRevokeView.as_view(), name="oauth-client-revoke"),
    path("access-tokens/", views.AccessTokenListView.as_view(), name="access-token-list"),
    path("access-tokens/<int:token_id>/", views.AccessTokenDetailView.as_view(), name="access-token-detail"),
    path("access-tokens/<int:token_id>/revoke/", views.AccessTokenRevokeView.as_view(), name="access-token-revoke"),
]
