"""The Celery app: settings come from Django's CELERY_* settings (acks_late, prefetch 1, time limits)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("portico")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
