"""Per-tenant throttling of the read APIs."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import cache
from django.urls import resolve

from calls.keys import create_api_key
from calls.models import Tenant
from config import settings as settings_module
from config.api.throttling import TenantReadThrottle
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rate(settings):
    def set_rate(value: str | None) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"read_api": value},
        }

    set_rate("3/min")
    return set_rate


@pytest.mark.parametrize(
    ("url", "family"),
    [
        ("/api/v1/calls", "platform"),
        ("/api/v1/calls/export.csv", "platform"),
        ("/v2/calls?model_id=agent-1", "synthflow"),
    ],
)
def test_over_the_rate_is_429_with_retry_after(rate, api_client, url, family):
    for _ in range(3):
        assert api_client.get(url).status_code == 200

    response = api_client.get(url)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    if family == "synthflow":
        assert body["detail"]["category"] == "rate_limited"
        assert "throttled" in body["detail"]["description"]
    else:
        assert "throttled" in body["detail"]


def test_budget_is_per_tenant_not_per_client(
    rate, tenant, api_client, other_api_client, make_client
):
    second_key_same_tenant = make_client(tenant)
    for client in (api_client, second_key_same_tenant, api_client):
        assert client.get("/api/v1/calls").status_code == 200

    # The tenant's budget is spent whichever key asks; another tenant's is untouched.
    assert second_key_same_tenant.get("/api/v1/calls").status_code == 429
    assert api_client.get("/v2/calls/x").status_code == 429
    assert other_api_client.get("/api/v1/calls").status_code == 200


def test_writes_are_not_throttled(rate, api_client):
    for _ in range(3):
        api_client.get("/api/v1/calls")

    assert api_client.get("/api/v1/calls").status_code == 429
    assert api_client.post("/api/v1/calls", call_doc(), format="json").status_code == 201


def test_rate_off_means_unthrottled(rate, api_client):
    rate(None)

    assert all(api_client.get("/api/v1/calls").status_code == 200 for _ in range(10))


class BrokenCache:
    def get(self, *args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    def set(self, *args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")


def test_cache_outage_lets_requests_through_and_logs(rate, api_client, monkeypatch, caplog):
    monkeypatch.setattr(TenantReadThrottle, "cache", BrokenCache())

    with caplog.at_level(logging.WARNING, logger="callscope.api"):
        statuses = [api_client.get("/api/v1/calls").status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert any("throttle cache unavailable" in r.getMessage() for r in caplog.records)


def test_unreachable_redis_cache_is_not_a_500(rate, api_client, settings, monkeypatch):
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on port 9: connections are refused at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    monkeypatch.setattr(TenantReadThrottle, "cache", caches["default"])

    assert api_client.get("/api/v1/calls").status_code == 200


@pytest.mark.redis
def test_throttle_on_redis_is_keyed_by_tenant(
    rate, api_client, other_api_client, settings, redis_url, monkeypatch
):
    from django.core.cache import caches

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    redis_cache = caches["default"]
    redis_cache.clear()
    monkeypatch.setattr(TenantReadThrottle, "cache", redis_cache)
    try:
        assert [api_client.get("/api/v1/calls").status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
        assert other_api_client.get("/api/v1/calls").status_code == 200
    finally:
        redis_cache.clear()


# --- The default budget --------------------------------------------------------------------------

# What a voice-platform dashboard polls, each at its recommended refresh rate (``max-age``).
DASHBOARD_POLLS = tuple(
    f"/api/v1/analytics/{name}"
    for name in (
        "summary",
        "call-volume",
        "workflow-stats",
        "provider-latency",
        "errors",
        "active-calls",
    )
)
# With a call list beside it.
CALL_LIST = "/api/v1/calls"
DASHBOARDS = 300


def polls_per_minute(path: str) -> float:
    return 60 / resolve(path).func.view_class.cache_max_age  # type: ignore[attr-defined]


def default_reads_per_minute() -> float:
    n, seconds = TenantReadThrottle().parse_rate(settings_module.READ_API_RATE_DEFAULT)
    return n * 60 / seconds


def test_the_default_budget_admits_a_few_hundred_polling_dashboards():
    dashboard = sum(polls_per_minute(path) for path in DASHBOARD_POLLS)
    assert dashboard == 13  # 6 active-calls + 2 summary + 2 errors + 3 others, per minute

    assert default_reads_per_minute() >= DASHBOARDS * (dashboard + polls_per_minute(CALL_LIST))


def test_the_default_budget_is_enforced(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": settings_module.READ_API_RATE_DEFAULT},
    }
    key, _ = create_api_key(tenant=Tenant.objects.create(name="Busy", slug="busy"), name="d")
    request = SimpleNamespace(method="GET", auth=key, path="/api/v1/analytics/summary")
    budget = int(default_reads_per_minute())

    admitted = sum(TenantReadThrottle().allow_request(request, None) for _ in range(budget + 5))

    assert admitted == budget
