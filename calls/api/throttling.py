"""Per-tenant request throttling of the read APIs.

Keyed by the tenant of the API key (not by IP: one tenant's scripts behind many addresses share
one budget, and tenants behind one NAT do not share theirs). The rate comes from the settings
(``READ_API_RATE``). A cache outage never turns requests into errors: the request is allowed and
the outage logged.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from calls.models import ApiKey

logger = logging.getLogger("callscope.api")

# What a failing cache backend raises (Redis down or unreachable, sockets refused or timing out).
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)


class TenantReadThrottle(SimpleRateThrottle):
    """Throttles reads (GET/HEAD/OPTIONS) per tenant; writes and unauthenticated requests are
    not counted here."""

    scope = "read_api"
    cache_format = "throttle:%(scope)s:%(ident)s"

    def get_rate(self) -> str | None:
        # Read at request time (not import time) so the configured rate is always the current one.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates.get(self.scope)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method not in SAFE_METHODS or not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.tenant_id}

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS:
            logger.warning(
                "throttle cache unavailable, request allowed: tenant=%s path=%s",
                getattr(request.auth, "tenant_id", None),
                request.path,
                exc_info=True,
            )
            return True

    def wait(self) -> float:
        # Always a positive wait, so a throttled response always carries Retry-After.
        wait = super().wait()
        if wait is None or wait <= 0:
            oldest = self.history[-1] if self.history else self.now
            wait = max(self.duration - (self.now - oldest), 1.0)  # type: ignore[attr-defined]
        return wait
