"""Open WebSocket connections per tenant, counted in the cache across every daphne process.

A plain counter would drift for good when a process dies without closing its connections. So
connections hold leases on time slots of ``LEASE_SECONDS``: a connection counts itself in the
current and the previous slot when it opens, in each new slot while it stays open (its heartbeat
renews the lease), and uncounts itself from every recent slot it is counted in when it closes.
The tenant's count is the larger of the current and the previous slot's: the previous slot holds
every connection that has not renewed yet, the current one every connection that has and every
new one. The connections of a process that died stop counting within two slots. A cache outage
lets connections in (the limit protects against load, not a tenant's data) and is logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from config import cache_outage

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60


@dataclass(frozen=True)
class Lease:
    """The slots a connection is counted in."""

    slots: tuple[int, ...]


def current_slot() -> int:
    return int(time.time() // LEASE_SECONDS)


def _key(tenant_id: int, slot: int) -> str:
    return f"live:conns:{tenant_id}:{slot}"


def _incr(tenant_id: int, slot: int) -> int:
    key = _key(tenant_id, slot)
    # Outlives the slot after it, whose count reads it.
    cache.add(key, 0, 3 * LEASE_SECONDS)
    return int(cache.incr(key))


def _decr(tenant_id: int, slots: tuple[int, ...]) -> None:
    oldest = current_slot() - 1
    for slot in slots:
        if slot >= oldest:
            # A slot whose count has expired has nothing left to uncount.
            with contextlib.suppress(ValueError):
                cache.decr(_key(tenant_id, slot))


def _warn(tenant_id: int) -> None:
    logger.warning("live connection count unavailable: tenant=%s", tenant_id, exc_info=True)


def claim(tenant_id: int) -> Lease | None:
    """Counts a new connection of the tenant, or returns ``None`` (counting nothing) when the
    tenant already has ``LIVE_MAX_CONNECTIONS_PER_TENANT`` open."""
    slot = current_slot()
    lease = Lease(slots=(slot - 1, slot))
    try:
        counts = [_incr(tenant_id, s) for s in lease.slots]
        if max(counts) > settings.LIVE_MAX_CONNECTIONS_PER_TENANT:
            _decr(tenant_id, lease.slots)
            return None
    except cache_outage.CACHE_ERRORS:
        _warn(tenant_id)
    return lease


def listening(tenant_id: int) -> bool:
    """Whether the tenant may have an open connection: one cache read of its two counted slots.
    Writers skip building messages nobody would receive; a cache outage answers yes."""
    slot = current_slot()
    try:
        counts = cache.get_many([_key(tenant_id, slot - 1), _key(tenant_id, slot)])
    except cache_outage.CACHE_ERRORS:
        return True
    return any(int(count) > 0 for count in counts.values())


def renew(tenant_id: int, lease: Lease) -> Lease:
    """Keeps an open connection counted: in the current slot, once per slot."""
    slot = current_slot()
    if slot in lease.slots:
        return lease
    try:
        _incr(tenant_id, slot)
    except cache_outage.CACHE_ERRORS:
        _warn(tenant_id)
    return Lease(slots=(*(s for s in lease.slots if s >= slot - 1), slot))


def release(tenant_id: int, lease: Lease) -> None:
    """Uncounts a closing connection."""
    try:
        _decr(tenant_id, lease.slots)
    except cache_outage.CACHE_ERRORS:
        _warn(tenant_id)
