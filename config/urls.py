"""Top-level routes: portal, accounts, REST API, OAuth2, gateway feed, admin and health checks."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from health_check.views import HealthCheckView
from oauth2_provider.views import TokenView

from foundation.errors import pages as error_pages
from foundation.health import liveness, redis_client
from keys.api import oauth as consumer_oauth


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, the browsable API): the portal's mark.

    Resolved per request, as the hashed static name is only known once static files are collected.
    """

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("portico-mark.svg")


# Of django-oauth-toolkit's endpoints only the token endpoint is served: gateways use the client-credentials grant
# and nothing else. Its full URLconf would let any signed-in developer register OAuth applications with redirect
# URIs of their choosing, run authorization and device flows against other users, and advertise all of that.
oauth2_urls = ([path("token/", TokenView.as_view(), name="token")], "oauth2_provider")

# OAuth2 for API consumers (docs/oauth.md): their own token endpoint, apart from the gateways' /o/token/.
consumer_oauth_urls = (
    [
        path("token", consumer_oauth.ConsumerTokenView.as_view(), name="token"),
        path("introspect", consumer_oauth.ConsumerIntrospectView.as_view(), name="introspect"),
        path("revoke", consumer_oauth.ConsumerRevokeView.as_view(), name="revoke"),
        path("jwks.json", consumer_oauth.jwks_view, name="jwks"),
    ],
    "consumer_oauth",
)

urlpatterns = [
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("", include("portal.urls")),
    path("", include("analytics.urls")),
    path("", include("webhooks.urls")),
    path("", include("notifications.urls")),
    # Before allauth's: its OpenID Connect login and callback, with ID tokens checked by joserfc (sso.oidc).
    path("accounts/oidc/", include("sso.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's initialiser as a script file, so the strict CSP needs no exception.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html", title="Portico API"),
        name="api-docs",
    ),
    path("o/", include(oauth2_urls)),
    path("oauth/", include(consumer_oauth_urls)),
    path("gateway/v1/", include("gateway_sync.api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", liveness, name="healthz"),
    path(
        "readyz",
        HealthCheckView.as_view(
            checks=[
                "health_check.checks.Database",
                ("health_check.contrib.redis.Redis", {"client_factory": redis_client}),
            ],
        ),
        name="readyz",
    ),
]

handler400 = error_pages.bad_request
handler403 = error_pages.permission_denied
handler404 = error_pages.page_not_found
handler500 = error_pages.server_error
