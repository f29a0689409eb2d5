"""Who may open a stream: API keys on the handshake (their scope and expiry), single-use
tickets, revocation, and the tenant wall between connections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from calls.keys import create_api_key, revoke_api_key
from calls.models import ApiKey, Tenant, TenantMembership
from config.live.auth import LivePrincipal, issue_ticket
from tests.live.conftest import closed_with, document, ingest, raw_key, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_handshake_without_credentials_is_closed_with_4401(connect: Any) -> None:
    async def body() -> None:
        stream = await connect("/ws/v1/calls")
        message = await closed_with(stream, 4401)
        assert "Missing credentials" in message["detail"]

    run(body)


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer", b"Token cs_abc", b"Bearer cs_a cs_b", b"Bearer not-a-key", b"Bearer cs_\xff"],
)
def test_a_malformed_authorization_header_is_closed_with_4401(
    connect: Any, authorization: bytes
) -> None:
    async def body() -> None:
        stream = await connect("/ws/v1/calls", headers=[(b"authorization", authorization)])
        await closed_with(stream, 4401)

    run(body)


def test_unknown_and_revoked_keys_are_closed_alike(connect: Any, tenant: Tenant) -> None:
    revoked = raw_key(tenant)
    revoke_api_key(key=ApiKey.objects.get())

    async def body() -> None:
        unknown = await closed_with(await connect("/ws/v1/calls", key="cs_" + "x" * 43), 4401)
        gone = await closed_with(await connect("/ws/v1/calls", key=revoked), 4401)
        assert unknown["detail"] == gone["detail"] == "Invalid or revoked API key."

    run(body)


def test_an_expired_key_is_closed_with_4401(connect: Any, tenant: Tenant) -> None:
    _, expired = create_api_key(tenant=tenant, expires_at=timezone.now() - timedelta(seconds=1))

    async def body() -> None:
        message = await closed_with(await connect("/ws/v1/calls", key=expired), 4401)
        assert message["detail"] == "API key expired."

    run(body)


@pytest.mark.parametrize("path", ["/ws/v1/calls", "/ws/v1/errors", "/ws/v1/analytics/summary"])
def test_an_ingest_only_key_is_closed_with_4403(connect: Any, tenant: Tenant, path: str) -> None:
    _, ingest_only = create_api_key(tenant=tenant, scope="ingest")

    async def body() -> None:
        message = await closed_with(await connect(path, key=ingest_only), 4403)
        assert "scope is 'ingest'" in message["detail"]

    run(body)


@pytest.mark.parametrize("scope", ["read", "all"])
def test_a_key_that_may_read_opens_a_stream(connect: Any, tenant: Tenant, scope: str) -> None:
    _, reader = create_api_key(tenant=tenant, scope=scope)

    async def body() -> None:
        stream = await connect("/ws/v1/calls", key=reader)
        assert (await stream.receive_json_from())["type"] == "subscribed"
        await stream.disconnect()

    run(body)


def test_an_ingest_only_key_gets_no_ticket(tenant: Tenant) -> None:
    _, ingest_only = create_api_key(tenant=tenant, scope="ingest")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_only}")

    response = client.post("/api/v1/live/tickets")

    assert response.status_code == 403
    assert "scope is 'ingest'" in response.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"scope": "ingest"},
        {"scope": "unknown"},
    ],
)
def test_a_ticket_of_a_key_that_may_no_longer_read_is_refused(
    connect: Any, tenant: Tenant, change: dict[str, Any]
) -> None:
    key = ApiKey.objects.create(tenant=tenant, key_hash="h")
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", key_id=key.pk))
    ApiKey.objects.filter(pk=key.pk).update(**change)

    async def body() -> None:
        await closed_with(await connect(f"/ws/v1/calls?ticket={ticket}"), 4401)

    run(body)


def test_a_ticket_opens_one_stream_once(connect: Any, tenant: Tenant) -> None:
    key = ApiKey.objects.create(tenant=tenant, key_hash="h")
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", key_id=key.pk))

    async def body() -> None:
        first = await connect(f"/ws/v1/calls?ticket={ticket}")
        assert (await first.receive_json_from())["type"] == "subscribed"
        again = await connect(f"/ws/v1/calls?ticket={ticket}")
        await closed_with(again, 4401)
        await first.disconnect()

    run(body)


def test_a_ticket_and_a_key_together_are_refused(connect: Any, tenant: Tenant) -> None:
    key = raw_key(tenant)
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", key_id=1))

    async def body() -> None:
        await closed_with(await connect(f"/ws/v1/calls?ticket={ticket}", key=key), 4401)

    run(body)


def test_an_expired_or_forged_ticket_is_refused(connect: Any, tenant: Tenant) -> None:
    key = ApiKey.objects.create(tenant=tenant, key_hash="h")
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", key_id=key.pk))
    cache.clear()  # as when its time to live has passed

    async def body() -> None:
        await closed_with(await connect(f"/ws/v1/calls?ticket={ticket}"), 4401)
        await closed_with(await connect("/ws/v1/calls?ticket=cst_forged"), 4401)

    run(body)


def test_a_ticket_of_a_key_revoked_since_is_refused(connect: Any, tenant: Tenant) -> None:
    key = ApiKey.objects.create(tenant=tenant, key_hash="h")
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", key_id=key.pk))
    revoke_api_key(key=key)

    async def body() -> None:
        await closed_with(await connect(f"/ws/v1/calls?ticket={ticket}"), 4401)

    run(body)


@pytest.mark.parametrize(
    "invalidate",
    [
        lambda: revoke_api_key(key=ApiKey.objects.get()),
        lambda: ApiKey.objects.update(expires_at=timezone.now()),
    ],
    ids=["revoked", "expired"],
)
def test_a_key_that_stops_being_valid_while_connected_is_disconnected(
    connect: Any, tenant: Tenant, settings: Any, invalidate: Callable[[], object]
) -> None:
    settings.LIVE_AUTH_RECHECK_SECONDS = 1
    settings.LIVE_HEARTBEAT_SECONDS = 3600
    key = raw_key(tenant)

    async def body() -> None:
        stream = await connect("/ws/v1/calls", key=key)
        assert (await stream.receive_json_from())["type"] == "subscribed"
        await database_sync_to_async(invalidate)()
        message = await stream.receive_json_from(timeout=5)
        assert message == {**message, "type": "error", "code": 4401}
        closing = await stream.receive_output(timeout=1)
        assert (closing["type"], closing["code"]) == ("websocket.close", 4401)

    run(body)


def test_other_tenants_never_receive_a_tenants_events(
    connect: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = raw_key(tenant), raw_key(other_tenant)

    async def body() -> None:
        streams = {}
        for path in ("/ws/v1/calls", "/ws/v1/errors", "/ws/v1/analytics/active-calls"):
            streams[path] = await connect(path, key=theirs)
            await streams[path].receive_json_from()  # subscribed, or the current count
        watching = await connect("/ws/v1/calls", key=mine)
        await watching.receive_json_from()
        error = {"service": "llm", "level": "error", "message": "timeout"}
        await ingest(tenant, document("c-1", errors=[error]))
        assert (await watching.receive_json_from())["type"] == "call.started"
        for stream in streams.values():
            assert await stream.receive_nothing(timeout=0.3)
            await stream.disconnect()
        await watching.disconnect()

    run(body)


def test_a_staff_ticket_stream_ends_when_the_membership_is_removed(
    connect: Any, tenant: Tenant, settings: Any
) -> None:
    settings.LIVE_AUTH_RECHECK_SECONDS = 1
    user = User.objects.create_user("staff", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", user_id=user.pk))

    async def body() -> None:
        stream = await connect(f"/ws/v1/calls?ticket={ticket}")
        assert (await stream.receive_json_from())["type"] == "subscribed"
        await database_sync_to_async(TenantMembership.objects.all().delete)()
        assert (await stream.receive_json_from(timeout=5))["code"] == 4401

    run(body)


def test_a_staff_ticket_for_a_tenant_the_user_does_not_belong_to_is_refused(
    connect: Any, tenant: Tenant
) -> None:
    user = User.objects.create_user("staff", password="x", is_staff=True)
    ticket = issue_ticket(LivePrincipal(tenant_id=tenant.pk, tenant_zone="UTC", user_id=user.pk))

    async def body() -> None:
        await closed_with(await connect(f"/ws/v1/calls?ticket={ticket}"), 4401)

    run(body)


def test_a_page_of_another_site_may_not_connect(connect: Any, tenant: Tenant) -> None:
    key = raw_key(tenant)

    async def body() -> None:
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        stream = WebsocketCommunicator(
            application,
            "/ws/v1/calls",
            headers=[
                (b"origin", b"https://evil.example"),
                (b"authorization", f"Bearer {key}".encode()),
            ],
        )
        connected, _ = await stream.connect()
        assert not connected

    run(body)
