"""Fixtures of the live stream tests: a fresh in-memory channel layer, WebSocket communicators
on the project's ASGI application, and call documents.

Each test body is a coroutine run by ``run`` (``async_to_sync``), so the consumers' database
calls run in the test's thread, inside the test's database transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from calls.keys import create_api_key
from calls.models import Tenant
from calls.services import ingest_call_documents
from config.live import publish

MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return async_to_sync(test)()


@pytest.fixture(autouse=True)
def _memory_layer(settings: Any) -> Iterator[None]:
    # A new layer per test: its queues belong to the test's event loop.
    settings.CHANNEL_LAYERS = MEMORY_LAYER
    publish.failures.reset()
    yield


@pytest.fixture
def application() -> Any:
    from config.asgi import application

    return application


def raw_key(tenant: Tenant) -> str:
    return create_api_key(tenant=tenant, name="live")[1]


@pytest.fixture
def connect(application: Any) -> Callable[..., Awaitable[WebsocketCommunicator]]:
    async def open_stream(
        path: str, *, key: str | None = None, headers: list[tuple[bytes, bytes]] | None = None
    ) -> WebsocketCommunicator:
        sent = list(headers or [])
        if key is not None:
            sent.append((b"authorization", f"Bearer {key}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=sent)
        connected, _ = await communicator.connect()
        assert connected
        return communicator

    return open_stream


def document(call_id: str, status: str = "in-progress", **fields: Any) -> dict[str, Any]:
    start: datetime = fields.pop("start", timezone.now() - timedelta(minutes=1))
    return {
        "call_id": call_id,
        "status": status,
        "start_time": start.isoformat(),
        "model_id": fields.pop("model_id", "agent-1"),
        **fields,
    }


async def ingest(tenant: Tenant, *documents: dict[str, Any]) -> None:
    """Ingests as the API does; the events go out when its transaction commits."""
    await database_sync_to_async(ingest_call_documents)(tenant=tenant, documents=list(documents))


async def closed_with(communicator: WebsocketCommunicator, code: int) -> dict[str, Any]:
    """The error message a refused connection gets, after checking the close code."""
    message = await communicator.receive_json_from()
    assert message["type"] == "error"
    assert message["code"] == code
    closing = await communicator.receive_output()
    assert (closing["type"], closing["code"]) == ("websocket.close", code)
    assert message["detail"].startswith(closing["reason"])
    return message
