"""The staff page of anomaly flags: read-only, written by detection alone (a flag is a record of what was seen)."""

from __future__ import annotations

from django.contrib import admin

from anomalies.models import Flag
from foundation.admin import ReadOnlyAdmin


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    """Every flag, newest first: keys of all organisations and client addresses bursting with invalid keys."""

    list_display = ["hour", "rule", "subject", "organisation", "application", "key", "observed", "baseline"]
    list_filter = ["rule"]
    search_fields = ["subject", "organisation__name", "application__name", "key__prefix"]  # subject: "ip:<address>"
    list_select_related = ["organisation", "application", "key", "oauth_client"]
    date_hierarchy = "hour"
    ordering = ["-hour", "-pk"]
