"""Small presentation helpers shared by the portal templates."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import HttpRequest
from django.utils.safestring import mark_safe

register = template.Library()

STATUS_TONES = {
    "active": "success",
    "pending": "warning",
    "succeeded": "success",
    "failed": "danger",
    "grace": "warning",
    "suspended": "danger",
    "blocked": "danger",
    "rejected": "danger",
    "revoked": "danger",
    "expired": "muted",
    "cancelled": "muted",
    "owner": "accent",
    "admin": "info",
    "member": "muted",
    "live": "accent",
    "test": "info",
}


@register.filter
def limit(value: int | None, unit: str = "") -> str:
    """A plan limit for people: thousands separated, and an empty limit spelled out as unlimited."""
    if value is None:
        return "Unlimited"
    return f"{intcomma(value)}{(' ' + unit) if unit else ''}"


@register.filter
def tone(value: str) -> str:
    """The badge colour of a status or role, so the same word always looks the same."""
    return STATUS_TONES.get(str(value), "muted")


@register.simple_tag(takes_context=True)
def nav_current(context: dict[str, Any], *prefixes: str) -> str:
    """`aria-current="page"` when the current URL name starts with one of the prefixes (CSS styles it)."""
    request: HttpRequest | None = context.get("request")
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "url_name", None) or ""
    if any(name.startswith(prefix) for prefix in prefixes):
        return mark_safe('aria-current="page"')  # a constant, no user input
    return ""


@register.filter
def field_type(bound_field: Any) -> str:
    """The widget kind of a form field, for the shared field template."""
    return bound_field.field.widget.__class__.__name__.lower()


@register.filter
def pairs(value: Any) -> list[tuple[str, Any]]:
    """A dict's items for templates (`data.items` would look up a key named "items" first)."""
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []
