"""Shared fixtures: tenants, API keys and clients, and the database/Redis gates.

The suite runs twice under ``make test``: on SQLite, then on PostgreSQL (``DATABASE_URL``).
Tests marked ``postgres`` are deselected (not skipped) on SQLite; tests marked ``redis`` need the
Redis at ``REDIS_TEST_URL`` and fail instead of skipping when ``CI`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from calls.keys import create_api_key
from calls.models import Tenant

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "postgresql":
        return
    selected, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("postgres") else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis; skips locally when there is none, fails under CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required under CI but {REDIS_TEST_URL} is unreachable: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_TEST_URL}")
    return REDIS_TEST_URL


@pytest.fixture
def tenant(db: Any) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")


@pytest.fixture
def other_tenant(db: Any) -> Tenant:
    return Tenant.objects.create(name="Globex", slug="globex", timezone="Europe/Berlin")


@pytest.fixture
def make_client() -> Callable[[Tenant], APIClient]:
    def make(t: Tenant) -> APIClient:
        _, raw = create_api_key(tenant=t, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def api_client(tenant: Tenant, make_client: Callable[[Tenant], APIClient]) -> APIClient:
    return make_client(tenant)


@pytest.fixture
def other_api_client(other_tenant: Tenant, make_client: Callable[[Tenant], APIClient]) -> APIClient:
    return make_client(other_tenant)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Throttle counters live in the cache; a test starts with none from earlier tests (tenant ids
    repeat across tests on SQLite)."""
    from django.core.cache import cache

    cache.clear()
