"""Email preferences under the account pages, and the one-click unsubscribe link from every email."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("account/notifications/", views.preferences, name="preferences"),
    path("notifications/unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
