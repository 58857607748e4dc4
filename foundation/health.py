"""Health checks: liveness (the process serves) and the dependencies readiness checks (the Redis the portal needs
for its cache, login rate limits and the Celery broker)."""

from __future__ import annotations

import redis.asyncio as aioredis
from django.conf import settings
from django.http import HttpRequest, JsonResponse


def redis_client() -> aioredis.Redis:
    """A short-timeout client so /readyz answers quickly when Redis hangs."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def liveness(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; readiness (/readyz) checks dependencies."""
    return JsonResponse({"status": "ok"})
