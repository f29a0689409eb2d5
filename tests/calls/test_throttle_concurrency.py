"""The per-tenant read throttle admits exactly its budget, however many reads arrive at once."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from calls.keys import create_api_key
from config.api.throttling import TenantReadThrottle

pytestmark = pytest.mark.django_db

BUDGET = 200
THREADS = 32
READS_PER_THREAD = 20  # 640 reads against a budget of 200


@pytest.fixture(autouse=True)
def _racy_scheduling() -> Iterator[None]:
    # Switch threads as often as possible, so unsynchronised read-then-write code interleaves.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture
def rate(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": f"{BUDGET}/min"},
    }


@pytest.fixture
def redis_cache(settings: Any, redis_url: str) -> Iterator[None]:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    cache.clear()
    yield
    cache.clear()


def read_request(tenant: Any) -> Any:
    key, _ = create_api_key(tenant=tenant, name="reader")
    return SimpleNamespace(method="GET", auth=key, path="/api/v1/calls")


def read_concurrently(request: Any) -> tuple[int, list[float]]:
    """Sends ``THREADS * READS_PER_THREAD`` reads from ``THREADS`` threads started together;
    returns how many were admitted and the waits of those that were not."""
    barrier = threading.Barrier(THREADS)
    admitted = [0] * THREADS
    waits: list[list[float]] = [[] for _ in range(THREADS)]

    def reader(i: int) -> None:
        barrier.wait()
        for _ in range(READS_PER_THREAD):
            throttle = TenantReadThrottle()  # DRF makes one per request
            if throttle.allow_request(request, None):
                admitted[i] += 1
            else:
                waits[i].append(throttle.wait())

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(admitted), [w for per_thread in waits for w in per_thread]


def test_local_memory_cache_admits_exactly_the_budget(rate, tenant, monkeypatch):
    read = LocMemCache.get

    def read_then_yield(self: LocMemCache, *args: Any, **kwargs: Any) -> Any:
        # Give other threads the chance to run right after a read, as any I/O would.
        value = read(self, *args, **kwargs)
        time.sleep(0)
        return value

    monkeypatch.setattr(LocMemCache, "get", read_then_yield)

    admitted, waits = read_concurrently(read_request(tenant))

    assert admitted == BUDGET
    assert len(waits) == THREADS * READS_PER_THREAD - BUDGET
    assert all(1 <= w <= 60 for w in waits)


@pytest.mark.redis
def test_redis_admits_exactly_the_budget(rate, redis_cache, tenant):
    request = read_request(tenant)

    admitted, waits = read_concurrently(request)

    assert admitted == BUDGET
    assert len(waits) == THREADS * READS_PER_THREAD - BUDGET
    assert all(1 <= w <= 60 for w in waits)


@pytest.mark.redis
def test_redis_window_expires_and_the_next_read_opens_a_new_one(
    rate, redis_cache, tenant, redis_url
):
    request = read_request(tenant)
    read_concurrently(request)
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("*throttle:read_api:*")
    assert 30_000 < client.pttl(key) <= 60_000  # the window closes a minute after it opened
    assert not TenantReadThrottle().allow_request(request, None)

    client.pexpire(key, 1)
    time.sleep(0.01)
    throttle = TenantReadThrottle()

    assert throttle.allow_request(request, None)
    assert int(client.get(key) or 0) == 1
    assert 55 < throttle.window_left <= 60


def test_window_opens_with_a_tenants_first_read_and_closes_a_duration_later(
    rate, tenant, settings, monkeypatch
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": "2/min"},
    }
    request = read_request(tenant)
    clock = {"now": 1000.0}
    monkeypatch.setattr(TenantReadThrottle, "timer", lambda self: clock["now"])

    def read_at(now: float) -> tuple[bool, float]:
        clock["now"] = now
        throttle = TenantReadThrottle()
        allowed = throttle.allow_request(request, None)
        return allowed, (0.0 if allowed else throttle.wait())

    assert read_at(1000)[0]
    assert read_at(1050)[0]
    # The window opened at 1000 is spent until it closes at 1060.
    assert read_at(1055) == (False, 5.0)
    assert read_at(1061)[0]
    # A new window opened at 1061, whatever was read in the minute before it.
    assert read_at(1062)[0]
    assert read_at(1063) == (False, 58.0)
