"""Readiness dependencies: the Redis the portal needs (cache, login rate limits, Celery broker)."""

from __future__ import annotations

import redis.asyncio as aioredis
from django.conf import settings


def redis_client() -> aioredis.Redis:
    """A short-timeout client so /readyz answers quickly when Redis hangs."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
