"""Per-tenant request throttling of the read APIs.

Keyed by the tenant of the API key (not by IP: one tenant's scripts behind many addresses share
one budget, and tenants behind one NAT do not share theirs). The rate comes from the settings
(``READ_API_RATE``, default ``6000/min``, sized for a few hundred polling dashboards: the
arithmetic is beside it in ``config.settings``). A cache outage never turns requests into
errors: the request is allowed and the outage logged.

The budget is a window opened by a tenant's first read: it admits exactly ``n`` reads, however
many arrive at once, and closes ``duration`` after it opened; the next read opens a new one. A
throttled read's ``Retry-After`` is the time left until the window closes. (A client may still
spend a budget at the end of one window and the next at the start of the following one.) Each
read is counted atomically:

- On Redis, in one ``MULTI`` round trip: ``SET key 0 PX duration NX`` (opens a window when none
  is open), ``INCR key``, ``PTTL key``. Every process serving the API shares the count.
- On any other cache (the local-memory cache of embedded mode, per process), by reading and
  writing the window under a lock of this process.

After a cache call fails, the throttle lets reads through without asking the cache for a moment
(``config.cache_outage``), so a hung Redis does not cost every read a timeout.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from calls.models import ApiKey
from config import cache_outage

logger = logging.getLogger("callscope.api")

# Serialises the read-and-write of a window on caches without an atomic counter.
_window_lock = threading.Lock()


class TenantReadThrottle(SimpleRateThrottle):
    """Throttles reads (GET/HEAD/OPTIONS) per tenant; writes and unauthenticated requests are
    not counted here."""

    scope = "read_api"
    # ``window`` keeps these keys apart from the request-history lists of earlier versions.
    cache_format = "throttle:%(scope)s:window:%(ident)s"

    # The budget, set by DRF from the rate (``parse_rate``) when throttling is on.
    num_requests: int
    duration: int
    # Seconds until the current window closes, set by ``allow_request``.
    window_left: float = 0.0

    def get_rate(self) -> str | None:
        # Read at request time (not import time) so the configured rate is always the current one.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates.get(self.scope)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method not in SAFE_METHODS or not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.tenant_id}

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        backend = cache_outage.backend_of(self.cache)
        if cache_outage.recently_failed(cache=backend):
            # As when the cache is down, without waiting for it again (the failure was logged).
            return True
        try:
            count, self.window_left = self.count_read(backend=backend, key=key)
        except cache_outage.CACHE_ERRORS:
            cache_outage.record_failure(cache=backend)
            logger.warning(
                "throttle cache unavailable, request allowed: tenant=%s path=%s",
                getattr(request.auth, "tenant_id", None),
                request.path,
                exc_info=True,
            )
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        # Always a positive wait, so a throttled response always carries Retry-After.
        return max(self.window_left, 1.0)

    def count_read(self, *, backend: BaseCache, key: str) -> tuple[int, float]:
        """Counts one read in the window of ``key`` in ``backend`` (opening a window when none
        is open).

        Returns the reads counted in the window so far, this one included, and the seconds
        until the window closes.
        """
        if isinstance(backend, RedisCache):
            return self._count_on_redis(backend, key)
        return self._count_under_lock(backend, key)

    def _count_on_redis(self, backend: RedisCache, key: str) -> tuple[int, float]:
        cache_key = backend.make_and_validate_key(key)
        # Django's Redis cache has no public way to its client; ``_cache`` is its client factory.
        client = backend._cache.get_client(cache_key, write=True)
        duration_ms = int(self.duration * 1000)
        # One transaction: the window cannot close between being opened and counted, so a
        # count never lands on a key without an expiry.
        with client.pipeline(transaction=True) as pipe:
            pipe.set(cache_key, 0, px=duration_ms, nx=True)
            pipe.incr(cache_key)
            pipe.pttl(cache_key)
            _, count, left_ms = pipe.execute()
        if left_ms < 0:
            # Only a key written by something else lacks an expiry; never let it block forever.
            client.pexpire(cache_key, duration_ms)
            left_ms = duration_ms
        return int(count), left_ms / 1000

    def _count_under_lock(self, backend: BaseCache, key: str) -> tuple[int, float]:
        duration = self.duration
        with _window_lock:
            now = self.timer()
            window = backend.get(key)
            if _is_window(window) and now < window[0] + duration:
                opened, count = window[0], window[1] + 1
            else:
                opened, count = now, 1
            left = opened + duration - now
            backend.set(key, (opened, count), left)
        return count, left


def _is_window(value: Any) -> bool:
    """Whether ``value`` is a stored window: ``(opened at, reads counted)``."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], float | int)
        and isinstance(value[1], int)
    )
