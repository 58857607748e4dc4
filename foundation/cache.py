"""The portal's cache: Redis, with a per-process stand-in while Redis is unreachable.

The cache holds only throttling counters (login attempts, API rates). Failing closed would lock
everyone out during a Redis outage; failing open would drop brute-force protection. Falling back to
per-process memory keeps the limits (per process instead of global) and the portal working.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_RETRY_AFTER_SECONDS = 5.0  # after a failure, skip Redis this long so a hanging server costs one timeout
_UNREACHABLE = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError)
_METHODS = ("add", "get", "set", "touch", "delete", "get_many", "set_many", "delete_many", "has_key", "incr", "decr")


class RedisWithLocalFallback(RedisCache):
    """django-redis that serves from local memory, and says so in the log, while Redis is down."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._local = LocMemCache("portico-cache-fallback", {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._redis_down_until = 0.0


def _with_fallback(name: str) -> Any:
    redis_method = getattr(RedisCache, name)
    local_method = getattr(LocMemCache, name)

    def method(self: RedisWithLocalFallback, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._redis_down_until:
            try:
                return redis_method(self, *args, **kwargs)
            except _UNREACHABLE as error:
                self._redis_down_until = time.monotonic() + _RETRY_AFTER_SECONDS
                logger.warning("cache redis unreachable, using per-process memory: %s", error)
        return local_method(self._local, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _METHODS:
    setattr(RedisWithLocalFallback, _name, _with_fallback(_name))
