"""REST routes for organisations, members, applications, subscriptions and the catalog."""

urlpatterns: list = []
