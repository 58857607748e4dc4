"""Celery tasks: the periodic anomaly detection (beat, PORTICO_ANOMALY_DETECT_INTERVAL)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from anomalies import services


@shared_task(ignore_result=True, expires=300)
def detect() -> None:
    """Flag keys and client addresses whose current or previous hour breaks a rule; safe to run twice."""
    services.anomalies_detect(now=timezone.now())
