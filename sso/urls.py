"""allauth's OpenID Connect routes (same paths and names), served by sso.oidc; mounted before allauth's URLconf so
these are the ones that answer (tests/sso/test_pages.py checks it)."""

from django.urls import path

from sso import oidc

urlpatterns = [
    path("<str:provider_id>/login/", oidc.login, name="openid_connect_login"),
    path("<str:provider_id>/login/callback/", oidc.callback, name="openid_connect_callback"),
]
