"""Celery tasks that keep gateways in step with the platform (filled in by the push work)."""

from __future__ import annotations


def enqueue_push() -> None:
    """Placeholder until the push task lands."""
