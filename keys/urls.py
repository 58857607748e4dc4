"""Key and access-token pages; included by portal/urls.py, so the names live in the `portal` namespace."""

from django.urls import path

from keys import views

urlpatterns = [
    path("applications/<int:application_id>/keys/new/", views.key_create, name="key_create"),
    path("keys/<int:key_id>/reveal/", views.key_reveal, name="key_reveal"),
    path("keys/<int:key_id>/edit/", views.key_edit, name="key_edit"),
    path("keys/<int:key_id>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("applications/<int:application_id>/clients/new/", views.client_create, name="oauth_client_create"),
    path("clients/<int:oauth_client_id>/reveal/", views.client_reveal, name="oauth_client_reveal"),
    path("clients/<int:oauth_client_id>/rotate/", views.client_rotate, name="oauth_client_rotate"),
    path("clients/<int:oauth_client_id>/revoke/", views.client_revoke, name="oauth_client_revoke"),
    path("account/tokens/", views.token_list, name="token_list"),
    path("account/tokens/<int:token_id>/reveal/", views.token_reveal, name="token_reveal"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
