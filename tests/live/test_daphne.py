"""End to end: a daphne server (another process) with the Redis channel layer, a real WebSocket
client, and a call ingested over HTTP by this process (as gunicorn would in production)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from calls.models import Tenant
from config.live import publish
from tests.live.conftest import document, raw_key
from tests.live.servers import daphne

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_an_http_ingest_reaches_a_websocket_client_of_another_process(
    tenant: Tenant, other_tenant: Tenant, redis_url: str, settings: Any
) -> None:
    from websockets.sync.client import connect

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "callscope:live"},
        }
    }
    # As in production, every process shares the Redis cache: the writer finds there that the
    # tenant has open connections (counted by daphne), so it builds and sends the event.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    key, other = raw_key(tenant), raw_key(other_tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    with daphne(redis_url=redis_url) as host:
        headers = {"Authorization": f"Bearer {key}"}
        with (
            connect(f"ws://{host}/ws/v1/calls", additional_headers=headers) as stream,
            connect(
                f"ws://{host}/ws/v1/calls", additional_headers={"Authorization": f"Bearer {other}"}
            ) as elsewhere,
        ):
            assert json.loads(stream.recv(timeout=10))["type"] == "subscribed"
            assert json.loads(elsewhere.recv(timeout=10))["type"] == "subscribed"
            # Idle past the channel layer's blocking pop (5 s) and redis-py's default read
            # timeout (5 s): the streams stay open and still get the event.
            time.sleep(7)
            response = client.post("/api/v1/calls", document("c-http"), format="json")
            assert response.status_code in (200, 201)
            assert publish.wait_until_sent()
            event = json.loads(stream.recv(timeout=10))
            assert (event["type"], event["call"]["call_id"]) == ("call.started", "c-http")
            with pytest.raises(TimeoutError):
                elsewhere.recv(timeout=0.5)
