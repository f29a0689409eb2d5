"""A Redis that accepts connections and never answers costs a request a bounded time.

The settings are loaded from ``config/settings.py`` with ``REDIS_URL`` pointing at a TCP server
that accepts every connection and never sends a byte, and the resulting cache and Celery
configuration is what the requests and the publish below run with.
"""

from __future__ import annotations

import importlib.util
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kombu.exceptions
import pytest
import redis
from celery import Celery
from django.core.exceptions import ImproperlyConfigured

from config import cache_outage
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"
# What a read or a write may take with Redis hung: well above the configured budget of a few
# Redis calls (250 ms each), well below redis-py's default of 5 s for one call.
ANSWER_WITHIN_SECONDS = 1.0


class HungRedis:
    """A TCP server that accepts connections, never reads them and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.accepted:
            conn.close()
        self.server.close()


@pytest.fixture
def hung_redis() -> Iterator[HungRedis]:
    server = HungRedis()
    yield server
    server.close()


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """``config/settings.py`` executed afresh with ``env`` set (the running settings untouched)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("callscope_settings_from_env", SETTINGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def switch_to(configured: ModuleType, settings: Any) -> None:
    """Runs the rest of the test with the cache and count cache of ``configured``."""
    settings.CACHES = configured.CACHES
    settings.CALL_COUNT_CACHE = configured.CALL_COUNT_CACHE
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": "600/min"},
    }


def timed(request: Any) -> tuple[Any, float]:
    """Runs ``request`` against a cache with no failure on record, so that it meets the hung
    Redis itself (not the memory of an earlier timeout); returns its response and duration."""
    cache_outage.forget_failures()
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def warm_up_then_hang(
    hung_redis: HungRedis, monkeypatch: pytest.MonkeyPatch, settings: Any, client: Any
) -> None:
    # A first request pays for imports and URL resolution: the timed ones must not.
    assert client.post("/api/v1/calls", call_doc("c-warm"), format="json").status_code == 201
    assert client.get("/api/v1/calls").status_code == 200
    assert client.get("/v2/calls?model_id=agent-1").status_code == 200
    configured = load_settings(monkeypatch, REDIS_URL=hung_redis.url, DEBUG="1")
    assert configured.CALL_COUNT_CACHE
    switch_to(configured, settings)


def test_writes_and_reads_answer_within_a_second_when_redis_hangs(
    hung_redis, monkeypatch, settings, api_client, django_capture_on_commit_callbacks
):
    warm_up_then_hang(hung_redis, monkeypatch, settings, api_client)
    connections: list[int] = []

    def write() -> Any:
        # The count cache's generation bump runs after the commit: part of the write's time.
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = api_client.post("/api/v1/calls", call_doc("c-hung"), format="json")
        assert callbacks, "the write must reach the cache after its commit"
        return response

    def step(request: Any) -> tuple[Any, float]:
        response, seconds = timed(request)
        connections.append(len(hung_redis.accepted))
        return response, seconds

    written, write_seconds = step(write)
    # Throttled: the throttle's call times out, the cached total is not looked up.
    native, native_seconds = step(lambda: api_client.get("/api/v1/calls"))
    synthflow, synthflow_seconds = step(lambda: api_client.get("/v2/calls?model_id=agent-1"))
    # Unthrottled: the cached total's lookup times out.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    counted, counted_seconds = step(lambda: api_client.get("/v2/calls?model_id=agent-1"))

    assert written.status_code == 201, written.content
    assert native.status_code == 200, native.content
    assert {c["call_id"] for c in native.json()["results"]} == {"c-hung", "c-warm"}
    for response in (synthflow, counted):
        assert response.status_code == 200, response.content
        assert response.json()["response"]["pagination"]["total_records"] == 2
    assert write_seconds < ANSWER_WITHIN_SECONDS
    assert native_seconds < ANSWER_WITHIN_SECONDS
    assert synthflow_seconds < ANSWER_WITHIN_SECONDS
    assert counted_seconds < ANSWER_WITHIN_SECONDS
    # Every request did wait for the hung server: the timeouts, not a bypass, kept them short.
    assert connections[0] >= 1
    assert all(later > earlier for earlier, later in itertools.pairwise(connections))


def test_after_a_timeout_reads_skip_redis_for_a_moment(
    hung_redis, monkeypatch, settings, api_client
):
    warm_up_then_hang(hung_redis, monkeypatch, settings, api_client)
    first, _ = timed(lambda: api_client.get("/v2/calls?model_id=agent-1"))
    tried = len(hung_redis.accepted)

    again = [api_client.get("/v2/calls?model_id=agent-1") for _ in range(3)]

    assert first.status_code == 200
    assert [r.status_code for r in again] == [200, 200, 200]
    assert all(r.json()["response"]["pagination"]["total_records"] == 1 for r in again)
    assert tried >= 1
    assert len(hung_redis.accepted) == tried  # nobody waited for Redis again
    monkeypatch.setattr(cache_outage, "SKIP_AFTER_FAILURE_SECONDS", 0.0)
    assert api_client.get("/api/v1/calls").status_code == 200
    assert len(hung_redis.accepted) > tried  # and once the moment is over, Redis is tried again


def test_publishing_to_a_hung_broker_fails_within_a_second(monkeypatch, hung_redis):
    configured = load_settings(monkeypatch, REDIS_URL=hung_redis.url, DEBUG="1")
    # Configured exactly as ``config.celery`` configures the production app.
    app = Celery("callscope-hung-broker", set_as_current=False)
    app.config_from_object(configured, namespace="CELERY")

    @app.task(name="analytics.tasks.roll_dirty_days", shared=False)
    def roll_dirty_days() -> int:
        return 0

    try:
        started = time.monotonic()
        # What ``roll_tenant_days.delay`` and beat do: ``apply_async`` with the app's options.
        with pytest.raises((kombu.exceptions.OperationalError, redis.RedisError, OSError)):
            roll_dirty_days.delay()
        elapsed = time.monotonic() - started
    finally:
        app.close()

    assert elapsed < ANSWER_WITHIN_SECONDS
    assert hung_redis.accepted


def test_redis_timeout_defaults_to_250_ms_for_every_redis_client(monkeypatch):
    configured = load_settings(monkeypatch, REDIS_URL="redis://cache:6379/0", DEBUG="1")

    assert configured.CACHES["default"]["OPTIONS"]["socket_timeout"] == 0.25
    assert configured.CACHES["default"]["OPTIONS"]["socket_connect_timeout"] == 0.25
    assert configured.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] == 0.25
    assert configured.CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] == 0.25
    assert configured.CELERY_REDIS_SOCKET_TIMEOUT == 0.25
    assert configured.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT == 0.25


def test_redis_timeout_comes_from_the_environment(monkeypatch):
    configured = load_settings(
        monkeypatch, REDIS_URL="redis://cache:6379/0", DEBUG="1", REDIS_TIMEOUT_MS="1500"
    )

    assert configured.CACHES["default"]["OPTIONS"]["socket_timeout"] == 1.5
    assert configured.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] == 1.5
    assert configured.CELERY_REDIS_SOCKET_TIMEOUT == 1.5


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_redis_timeout_is_refused(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match="REDIS_TIMEOUT_MS"):
        load_settings(monkeypatch, DEBUG="1", REDIS_TIMEOUT_MS=value)
