"""Skipping a cache that has just failed, where Callscope can do without it.

A Redis that accepts connections but never answers makes every cache call wait out
``REDIS_TIMEOUT_MS`` before it fails, and one read of ``GET /v2/calls`` asks the cache twice
(the read throttle, then the cached total). After a call to a cache fails, the uses that only
save work or limit load (the throttle, the lookup and storing of cached totals) skip that cache
for ``SKIP_AFTER_FAILURE_SECONDS``: a hung Redis then costs a thread one timeout per period
instead of one per call, as a Redis that is down (connections refused at once) costs nothing.
The bump of a tenant's count generation after a write is never skipped (a skipped bump could
leave a stale total current): it is tried every time, and its failures count here too.

Failures are remembered per cache backend object: Django gives each thread its own, and a test
that swaps in another backend starts with a clean record.
"""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

import redis
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache

# What a failing cache backend raises (Redis down or unreachable, sockets refused or timing out).
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)

SKIP_AFTER_FAILURE_SECONDS = 1.0

_failed_at: WeakKeyDictionary[Any, float] = WeakKeyDictionary()


def backend_of(cache: Any) -> Any:
    """The cache backend behind ``cache``: Django's proxy of the default cache is resolved to
    this thread's default backend; anything else is returned as it is."""
    return caches[DEFAULT_CACHE_ALIAS] if cache is default_cache else cache


def recently_failed(*, cache: Any) -> bool:
    """Whether a call to ``cache`` failed less than ``SKIP_AFTER_FAILURE_SECONDS`` ago."""
    failed_at = _failed_at.get(backend_of(cache))
    return failed_at is not None and time.monotonic() - failed_at < SKIP_AFTER_FAILURE_SECONDS


def record_failure(*, cache: Any) -> None:
    """Notes that a call to ``cache`` has just failed (timed out, refused, errored)."""
    _failed_at[backend_of(cache)] = time.monotonic()


def forget_failures() -> None:
    """Forgets every recorded failure: the next call to each cache is tried."""
    _failed_at.clear()
