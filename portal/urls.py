"""Portal pages (server-rendered)."""

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
