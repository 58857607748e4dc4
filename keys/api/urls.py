"""REST routes for API keys and personal access tokens."""

urlpatterns: list = []
