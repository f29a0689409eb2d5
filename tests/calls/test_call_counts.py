"""Cached ``total_records`` of ``GET /v2/calls``: exact, invalidated by committed writes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from calls import counts
from calls.services import ingest_call_documents

pytestmark = pytest.mark.django_db

URL = "/v2/calls"
AGENT = "agent-a"
BASE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Tenant ids repeat between tests on SQLite (their rows are rolled back): no leftovers.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def count_cache(settings):
    settings.CALL_COUNT_CACHE = True


def doc(i: int, **overrides: Any) -> dict[str, Any]:
    return {
        "call_id": f"c-{i:02d}",
        "model_id": AGENT,
        "status": ("completed", "failed")[i % 2],
        "start_time": int((BASE + timedelta(hours=i)).timestamp() * 1000),
        "duration": 10 * i,
        "lead_phone_number": "+14155552671",
        **overrides,
    }


@pytest.fixture
def calls(tenant):
    ingest_call_documents(tenant=tenant, documents=[doc(i) for i in range(6)])


def total(client: Any, **params: Any) -> int:
    response = client.get(URL, {"model_id": AGENT, **params})
    assert response.status_code == 200, response.content
    return int(response.json()["response"]["pagination"]["total_records"])


def counted(client: Any, **params: Any) -> tuple[int, bool]:
    """The total, and whether answering it ran a COUNT."""
    with CaptureQueriesContext(connection) as ctx:
        value = total(client, **params)
    return value, any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)


def generation(tenant: Any) -> Any:
    return cache.get(counts.generation_key(tenant.pk))


# --- served from the cache -------------------------------------------------------------------


def test_every_page_after_the_first_reuses_the_total(count_cache, calls, api_client):
    assert counted(api_client, limit=2) == (6, True)

    assert counted(api_client, limit=2, offset=2) == (6, False)
    assert counted(api_client, limit=5, offset=4) == (6, False)


def test_a_cached_page_costs_one_query_less(count_cache, calls, api_client):
    api_client.get(URL, {"model_id": AGENT})  # the key's last_used_at write happens once
    cache.clear()

    with CaptureQueriesContext(connection) as cold:
        api_client.get(URL, {"model_id": AGENT, "limit": 3})
    with CaptureQueriesContext(connection) as warm:
        api_client.get(URL, {"model_id": AGENT, "limit": 3, "offset": 3})

    assert len(warm.captured_queries) == len(cold.captured_queries) - 1


def test_each_filter_has_its_own_total(count_cache, calls, api_client):
    assert total(api_client) == 6
    assert total(api_client, call_status="failed") == 3
    assert total(api_client, duration_min=20) == 4
    assert total(api_client, duration_min=20, call_status="failed") == 2
    assert total(api_client, from_date=int(BASE.timestamp() * 1000) + 1) == 5
    assert total(api_client, model_id="agent-b") == 0
    # Served again from the cache, each its own.
    assert counted(api_client, call_status="failed") == (3, False)
    assert counted(api_client) == (6, False)


def test_equivalent_parameters_share_a_total(count_cache, calls, api_client):
    assert counted(api_client, lead_phone_number="+14155552671", duration_min="30") == (3, True)

    # The same filters spelled differently: an unencoded "+" (a space), a zero-padded number.
    assert counted(api_client, lead_phone_number=" 14155552671", duration_min="030") == (3, False)


def test_another_tenant_gets_its_own_total_for_the_same_filters(
    count_cache, calls, api_client, other_tenant, other_api_client
):
    ingest_call_documents(tenant=other_tenant, documents=[doc(i) for i in range(2)])

    assert total(api_client) == 6
    assert total(other_api_client) == 2


# --- invalidation ----------------------------------------------------------------------------


def test_a_committed_write_shows_in_the_next_total(
    count_cache, calls, api_client, django_capture_on_commit_callbacks
):
    assert total(api_client) == 6

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/calls", doc(6), format="json")
    assert response.status_code == 201

    assert counted(api_client) == (7, True)
    assert total(api_client, call_status="completed") == 4


def test_an_update_moving_a_call_out_of_a_filter_shows(
    count_cache, calls, tenant, api_client, django_capture_on_commit_callbacks
):
    assert total(api_client, duration_min=50) == 1

    with django_capture_on_commit_callbacks(execute=True):
        ingest_call_documents(tenant=tenant, documents=[doc(5, duration=5)])

    assert total(api_client, duration_min=50) == 0


def test_the_generation_moves_only_after_commit(
    count_cache, calls, tenant, api_client, django_capture_on_commit_callbacks
):
    total(api_client)
    before = generation(tenant)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ingest_call_documents(tenant=tenant, documents=[doc(6)])
        # Written but not committed: the old total and generation stand.
        assert generation(tenant) == before
    assert callbacks  # the bump (and the live streams' publishing) wait for the commit

    for callback in callbacks:
        callback()
    assert generation(tenant) not in (None, before)
    assert total(api_client) == 7


def test_a_rolled_back_write_moves_nothing(
    count_cache, calls, tenant, api_client, django_capture_on_commit_callbacks
):
    assert total(api_client) == 6
    before = generation(tenant)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        ingest_call_documents(tenant=tenant, documents=[doc(6)])
        raise RuntimeError("abort the batch")

    assert callbacks == []
    assert generation(tenant) == before
    assert counted(api_client) == (6, False)


def test_another_tenants_writes_leave_the_total_cached(
    count_cache, calls, tenant, other_tenant, api_client, django_capture_on_commit_callbacks
):
    total(api_client)
    before = generation(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        ingest_call_documents(tenant=other_tenant, documents=[doc(i) for i in range(3)])

    assert generation(tenant) == before
    assert counted(api_client) == (6, False)


def test_an_unchanged_resend_leaves_the_total_cached(
    count_cache, calls, tenant, api_client, django_capture_on_commit_callbacks
):
    total(api_client)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest_call_documents(tenant=tenant, documents=[doc(0)])

    assert callbacks == []
    assert counted(api_client) == (6, False)


@pytest.mark.django_db(transaction=True)
def test_real_commits_and_rollbacks(count_cache, tenant, api_client):
    ingest_call_documents(tenant=tenant, documents=[doc(i) for i in range(3)])
    assert total(api_client) == 3

    with pytest.raises(RuntimeError), transaction.atomic():
        ingest_call_documents(tenant=tenant, documents=[doc(3)])
        raise RuntimeError("abort the batch")
    assert counted(api_client) == (3, False)

    ingest_call_documents(tenant=tenant, documents=[doc(3), doc(4)])
    assert counted(api_client) == (5, True)


# --- outages and the switch ------------------------------------------------------------------


class BrokenCache:
    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise redis.exceptions.ConnectionError("Connection refused")

    get = set = add = delete = _refuse


def test_cache_outage_counts_and_logs(
    count_cache, calls, tenant, api_client, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(counts, "cache", BrokenCache())

    with caplog.at_level(logging.WARNING, logger="calls.counts"):
        assert [counted(api_client) for _ in range(2)] == [(6, True), (6, True)]
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post("/api/v1/calls", doc(6), format="json")

    assert response.status_code == 201
    assert total(api_client) == 7
    messages = [r.getMessage() for r in caplog.records]
    assert any("call count cache unavailable, counting" in m for m in messages)
    assert any("generation not moved" in m for m in messages)


def test_unreachable_redis_is_not_a_500(count_cache, calls, api_client, settings, monkeypatch):
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on port 9: connections are refused at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    monkeypatch.setattr(counts, "cache", caches["default"])

    assert total(api_client) == 6


class UntouchableCache:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"cache.{name} used with CALL_COUNT_CACHE off")


def test_off_counts_every_time_and_never_touches_the_cache(
    settings, calls, tenant, api_client, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CALL_COUNT_CACHE = False
    monkeypatch.setattr(counts, "cache", UntouchableCache())

    assert counted(api_client) == (6, True)
    assert counted(api_client, offset=2) == (6, True)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_call_documents(tenant=tenant, documents=[doc(6)])
    assert counted(api_client) == (7, True)


@pytest.mark.redis
def test_on_redis(
    count_cache,
    calls,
    tenant,
    api_client,
    settings,
    redis_url,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from django.core.cache import caches

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    redis_cache = caches["default"]
    redis_cache.clear()
    monkeypatch.setattr(counts, "cache", redis_cache)
    try:
        assert counted(api_client) == (6, True)
        assert counted(api_client, offset=3) == (6, False)

        with django_capture_on_commit_callbacks(execute=True):
            ingest_call_documents(tenant=tenant, documents=[doc(6)])

        assert counted(api_client) == (7, True)
        assert counted(api_client, offset=3) == (7, False)
    finally:
        redis_cache.clear()


# --- keys ------------------------------------------------------------------------------------


def test_key_ignores_unset_filters_and_their_order():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    key = counts.count_key(1, "g", "v2-calls", {"model_id": "a", "from_date": at, "to_date": None})

    assert key == counts.count_key(1, "g", "v2-calls", {"from_date": at, "model_id": "a"})
    assert key != counts.count_key(2, "g", "v2-calls", {"model_id": "a", "from_date": at})
    assert key != counts.count_key(1, "h", "v2-calls", {"model_id": "a", "from_date": at})
    assert key != counts.count_key(1, "g", "other", {"model_id": "a", "from_date": at})
    assert key != counts.count_key(1, "g", "v2-calls", {"model_id": "a"})
    assert counts.count_key(1, "g", "s", {"duration_min": 0}) != counts.count_key(1, "g", "s", {})
