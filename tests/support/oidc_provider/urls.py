"""The provider's routes: its login page and django-oauth-toolkit's endpoints (authorize, token, userinfo, JWKS,
discovery) under /o/, so its issuer is http://127.0.0.1:<port>/o."""

from django.contrib.auth.views import LoginView
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
