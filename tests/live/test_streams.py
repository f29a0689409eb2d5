"""What the streams send: first messages, lifecycle events, filters, parameters, coalescing,
heartbeats, the connection limit, and nothing for a rolled-back write."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers
from django.db import transaction
from django.utils import timezone
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.test import APIClient

from analytics.api.params import PLATFORM_PERIODS
from calls.enums import CallStatus, ErrorLevel, ErrorService
from calls.models import Tenant
from calls.services import ingest_call_documents
from tests.live.conftest import closed_with, document, ingest, raw_key, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/ws/v1/calls?color=red", "'color'"),
        ("/ws/v1/calls?status=bogus", "status"),
        ("/ws/v1/calls?agent=a&agent=b", "agent"),
        ("/ws/v1/calls?agent=%00", "agent"),
        ("/ws/v1/errors?service=db", "service"),
        ("/ws/v1/errors?level=fatal", "level"),
        ("/ws/v1/analytics/summary?period=2h", "period"),
        ("/ws/v1/analytics/summary?started_after=2026-01-01", "started_after"),
        ("/ws/v1/analytics/active-calls?timezone=Mars/Olympus", "timezone"),
    ],
)
def test_a_bad_parameter_is_named_then_closed_with_4400(
    connect: Any, tenant: Tenant, path: str, named: str
) -> None:
    key = raw_key(tenant)

    async def body() -> None:
        message = await closed_with(await connect(path, key=key), 4400)
        assert named in message["detail"]
        assert {"type", "timezone", "as_of"} <= set(message)

    run(body)


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("/ws/v1/calls?status=bogus", CallStatus.values),
        ("/ws/v1/errors?service=bogus", ErrorService.values),
        ("/ws/v1/errors?level=bogus", ErrorLevel.values),
        ("/ws/v1/analytics/summary?period=bogus", list(PLATFORM_PERIODS)),
    ],
)
def test_a_value_outside_a_streams_choices_is_refused_with_the_choices(
    connect: Any, tenant: Tenant, path: str, valid: list[str]
) -> None:
    key = raw_key(tenant)

    async def body() -> None:
        message = await closed_with(await connect(path, key=key), 4400)
        assert "'bogus' is not one of: " + ", ".join(valid) in message["detail"]

    run(body)


def test_call_lifecycle_events_carry_the_list_item(connect: Any, tenant: Tenant) -> None:
    key = raw_key(tenant)

    async def body() -> None:
        stream = await connect("/ws/v1/calls", key=key)
        subscribed = await stream.receive_json_from()
        assert subscribed["type"] == "subscribed"
        await ingest(tenant, document("c-1", "ringing"))
        started = await stream.receive_json_from()
        assert started["type"] == "call.started"
        assert started["call"]["call_id"] == "c-1"
        assert started["call"]["agent"]["model_id"] == "agent-1"
        assert started["timezone"] == "UTC"
        await ingest(tenant, document("c-1", "in-progress"))
        assert (await stream.receive_json_from())["type"] == "call.updated"
        await ingest(tenant, document("c-1", "in-progress", transcript="bot: hi"))
        assert await stream.receive_nothing(timeout=0.3)  # no status or end reason change
        await ingest(tenant, document("c-1", "completed", end_call_reason="agent_goodbye"))
        ended = await stream.receive_json_from()
        assert (ended["type"], ended["call"]["status"]) == ("call.ended", "completed")
        await ingest(tenant, document("c-2", "completed", start=timezone.now()))
        kinds = [(await stream.receive_json_from())["type"] for _ in range(2)]
        assert kinds == ["call.started", "call.ended"]
        await stream.disconnect()

    run(body)


def test_the_call_stream_filters_by_agent_and_status(connect: Any, tenant: Tenant) -> None:
    key = raw_key(tenant)

    async def body() -> None:
        stream = await connect("/ws/v1/calls?agent=agent-2&status=completed,failed", key=key)
        await stream.receive_json_from()
        await ingest(
            tenant,
            document("c-1", "completed", model_id="agent-1"),
            document("c-2", "in-progress", model_id="agent-2"),
            document("c-3", "failed", model_id="agent-2"),
        )
        message = await stream.receive_json_from()
        assert (message["type"], message["call"]["call_id"]) == ("call.started", "c-3")
        message = await stream.receive_json_from()
        assert (message["type"], message["call"]["call_id"]) == ("call.ended", "c-3")
        assert await stream.receive_nothing(timeout=0.3)
        await stream.disconnect()

    run(body)


def test_a_rolled_back_write_publishes_nothing(connect: Any, tenant: Tenant) -> None:
    key = raw_key(tenant)

    def write_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            ingest_call_documents(tenant=tenant, documents=[document("c-1")])
            raise RuntimeError("the surrounding work failed")

    async def body() -> None:
        calls = await connect("/ws/v1/calls", key=key)
        await calls.receive_json_from()
        active = await connect("/ws/v1/analytics/active-calls", key=key)
        assert (await active.receive_json_from())["count"] == 0
        await database_sync_to_async(write_then_fail)()
        assert await calls.receive_nothing(timeout=0.3)
        assert await active.receive_nothing(timeout=0.3)
        # The same write committed is published.
        await ingest(tenant, document("c-1"))
        assert (await calls.receive_json_from())["call"]["call_id"] == "c-1"
        assert (await active.receive_json_from())["count"] == 1
        await calls.disconnect()
        await active.disconnect()

    run(body)


def test_the_errors_stream_sends_each_new_entry_as_the_errors_endpoint_lists_it(
    connect: Any, tenant: Tenant
) -> None:
    key = raw_key(tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    errors = [
        {"service": "llm", "level": "error", "message": "timeout", "details": {"ms": 5000}},
        {"service": "tts", "level": "warning", "message": "slow"},
    ]

    async def body() -> None:
        everything = await connect("/ws/v1/errors", key=key)
        llm = await connect("/ws/v1/errors?service=llm", key=key)
        for stream in (everything, llm):
            await stream.receive_json_from()
        await ingest(tenant, document("c-1", errors=errors))
        received = [await everything.receive_json_from() for _ in range(2)]
        listed = await database_sync_to_async(
            lambda: client.get("/api/v1/analytics/errors").json()["items"]
        )()
        assert sorted((m["entry"] for m in received), key=lambda e: e["id"]) == sorted(
            listed, key=lambda e: e["id"]
        )
        assert {m["type"] for m in received} == {"error_log"}
        only = await llm.receive_json_from()
        assert only["entry"]["service"] == "llm"
        assert await llm.receive_nothing(timeout=0.3)
        await everything.disconnect()
        await llm.disconnect()

    run(body)


def test_active_calls_follow_live_statuses_and_staleness(
    connect: Any, tenant: Tenant, settings: Any
) -> None:
    settings.ACTIVE_CALL_STALE_AFTER_SECONDS = 60
    key = raw_key(tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    async def body() -> None:
        stream = await connect("/ws/v1/analytics/active-calls?timezone=Europe/Berlin", key=key)
        first = await stream.receive_json_from()
        assert (first["type"], first["count"], first["timezone"]) == (
            "active_calls",
            0,
            "Europe/Berlin",
        )
        assert first["meta"]["timezone"] == "Europe/Berlin"
        # Goes stale about a second from now, with no write.
        soon_stale = timezone.now() - timedelta(seconds=59)
        await ingest(
            tenant, document("c-1", start=soon_stale), document("c-2", start=timezone.now())
        )
        assert (await stream.receive_json_from())["count"] == 2
        rest = await database_sync_to_async(
            lambda: client.get("/api/v1/analytics/active-calls").json()["count"]
        )()
        assert rest == 2
        assert (await stream.receive_json_from(timeout=5))["count"] == 1
        await ingest(tenant, document("c-2", "completed", start=timezone.now()))
        assert (await stream.receive_json_from())["count"] == 0
        await stream.disconnect()

    run(body)


def test_the_summary_starts_with_the_rest_body_and_coalesces_bursts(
    connect: Any, tenant: Tenant, settings: Any
) -> None:
    settings.LIVE_SUMMARY_MIN_INTERVAL_MS = 1000
    key = raw_key(tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    async def body() -> None:
        stream = await connect("/ws/v1/analytics/summary?period=1h", key=key)
        first = await stream.receive_json_from()
        rest = await database_sync_to_async(
            lambda: client.get("/api/v1/analytics/summary?period=1h").json()
        )()
        assert first["type"] == "summary"
        assert first["period"] == "1h"
        fields = set(rest) - {"meta"}
        assert {name: first[name] for name in fields} == {name: rest[name] for name in fields}
        assert first["total_calls"] == 0
        for n in range(6):
            await ingest(tenant, document(f"c-{n}", "completed", duration=60))
        updates = []
        while not updates or updates[-1]["total_calls"] < 6:
            updates.append(await stream.receive_json_from(timeout=3))
        # Six writes inside one interval: the first update right away (at most one second after
        # the first message), the other writes folded into the next.
        assert len(updates) <= 2
        assert updates[-1]["completed_calls"] == 6
        assert await stream.receive_nothing(timeout=1.2)
        await stream.disconnect()

    run(body)


def test_heartbeats_arrive_on_every_stream(connect: Any, tenant: Tenant, settings: Any) -> None:
    settings.LIVE_HEARTBEAT_SECONDS = 1
    key = raw_key(tenant)

    async def body() -> None:
        for path in ("/ws/v1/calls", "/ws/v1/analytics/summary"):
            stream = await connect(path, key=key)
            await stream.receive_json_from()
            beat = await stream.receive_json_from(timeout=3)
            assert beat["type"] == "heartbeat"
            assert set(beat) == {"type", "timezone", "as_of"}
            await stream.disconnect()

    run(body)


def test_connections_over_the_tenants_limit_are_closed_with_4429(
    connect: Any, tenant: Tenant, other_tenant: Tenant, settings: Any
) -> None:
    settings.LIVE_MAX_CONNECTIONS_PER_TENANT = 2
    key, other = raw_key(tenant), raw_key(other_tenant)

    async def body() -> None:
        first = await connect("/ws/v1/calls", key=key)
        second = await connect("/ws/v1/errors", key=key)
        await closed_with(await connect("/ws/v1/calls", key=key), 4429)
        # Another tenant's budget is its own.
        elsewhere = await connect("/ws/v1/calls", key=other)
        assert (await elsewhere.receive_json_from())["type"] == "subscribed"
        await first.disconnect()
        again = await connect("/ws/v1/calls", key=key)
        await first.receive_nothing(timeout=0)
        assert (await again.receive_json_from())["type"] == "subscribed"
        for stream in (second, elsewhere, again):
            await stream.disconnect()

    run(body)


def test_an_http_ingest_reaches_a_stream_opened_with_a_ticket(connect: Any, tenant: Tenant) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key(tenant)}")

    async def body() -> None:
        issued = await database_sync_to_async(lambda: client.post("/api/v1/live/tickets"))()
        assert issued.status_code == 201
        assert issued["Cache-Control"] == "no-store"
        stream = await connect(f"/ws/v1/calls?ticket={issued.json()['ticket']}")
        await stream.receive_json_from()
        response = await database_sync_to_async(
            lambda: client.post("/api/v1/calls", document("c-9"), format="json")
        )()
        assert response.status_code in (200, 201)
        assert (await stream.receive_json_from())["call"]["call_id"] == "c-9"
        await stream.disconnect()

    run(body)


def test_the_ticket_endpoint_needs_a_key(db: Any) -> None:
    response = APIClient().post("/api/v1/live/tickets")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_the_synthflow_webhook_and_import_calls_publish_too(
    connect: Any, tenant: Tenant, tmp_path: Any
) -> None:
    from django.core.management import call_command

    from calls.webhooks import sign_call_id
    from tests.calls.test_webhook import PAYLOAD, deliver

    key = raw_key(tenant)
    lines = tmp_path / "calls.jsonl"
    lines.write_text(json.dumps(document("imported-1", "completed")) + "\n")

    async def body() -> None:
        stream = await connect("/ws/v1/calls", key=key)
        await stream.receive_json_from()
        signature = sign_call_id(tenant.webhook_secret, PAYLOAD["call"]["call_id"])
        response = await database_sync_to_async(deliver)(tenant, signature=signature)
        assert response.status_code == 201
        assert (await stream.receive_json_from())["call"]["call_id"] == "wh-1"
        assert (await stream.receive_json_from())["type"] == "call.ended"
        await database_sync_to_async(call_command)(
            "import_calls", str(lines), tenant=tenant.slug, verbosity=0
        )
        assert (await stream.receive_json_from())["call"]["call_id"] == "imported-1"
        await stream.disconnect()

    run(body)


def test_connections_asking_the_same_summary_share_its_computation(
    connect: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics import live

    computed: list[str] = []
    original = live.summary_answer

    def counted(*args: Any) -> Any:
        computed.append("summary")
        return original(*args)

    monkeypatch.setattr(live, "summary_answer", counted)
    key = raw_key(tenant)

    async def body() -> None:
        streams = [await connect("/ws/v1/analytics/summary", key=key) for _ in range(3)]
        for stream in streams:
            await stream.receive_json_from()
        computed.clear()
        await ingest(tenant, document("c-1", "completed"))
        for stream in streams:
            assert (await stream.receive_json_from(timeout=3))["total_calls"] == 1
        # One computation for all three (two at most, if one connection was told first).
        assert 1 <= len(computed) <= 2
        for stream in streams:
            await stream.disconnect()

    run(body)


class _CancelSaysTimeout(InMemoryChannelLayer):
    """A layer whose pending read, cancelled, raises what redis-py raises then."""

    async def receive(self, channel: str) -> Any:
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            raise RedisTimeoutError("Timeout reading from socket") from None


def test_a_closed_stream_ends_quietly_when_its_cancelled_read_says_timeout(
    connect: Any, tenant: Tenant, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}._CancelSaysTimeout"}}
    key = raw_key(tenant)

    async def body() -> None:
        communicator = await connect("/ws/v1/calls", key=key)
        assert (await communicator.receive_json_from())["type"] == "subscribed"
        await communicator.disconnect()  # raises if the application ended with an error
        assert isinstance(channel_layers["default"], _CancelSaysTimeout)

    run(body)
