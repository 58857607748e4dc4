"""`{% anomaly_flags application %}`: the flags section of an application's usage page.

A tag, so the usage page (analytics) shows flags without analytics importing this app, which reads analytics'
rollups: the dependency stays one way. The page's view has already scoped the application to the user."""

from __future__ import annotations

from typing import Any

from django import template

from anomalies.selectors import FLAGS_SHOWN, application_flags
from portal.models import Application

register = template.Library()


@register.inclusion_tag("anomalies/partials/application_flags.html")
def anomaly_flags(application: Application) -> dict[str, Any]:
    """The application's newest flags (one query)."""
    return {"application": application, "flags": list(application_flags(application=application)[:FLAGS_SHOWN])}
