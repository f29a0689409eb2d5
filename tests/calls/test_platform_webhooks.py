"""``POST /api/v1/webhooks/<platform>/<token>``: verified before anything is parsed, mapped into
the one call model, kept per event (redacted) and idempotent; forged or foreign deliveries write
nothing. Driven by the test-only platform module in ``tests/calls/platform_stub.py``."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from calls.encryption import decrypt_secret
from calls.models import Call, PlatformConnection, Tenant, WebhookDelivery
from calls.platform_connections import create_connection, credentials, rotate_secret
from calls.platforms import PLATFORMS
from tests.calls.platform_stub import StubPlatform, sign

pytestmark = pytest.mark.django_db

PLATFORM = "bland"


@pytest.fixture
def stub_platform(monkeypatch: pytest.MonkeyPatch) -> StubPlatform:
    stub = StubPlatform(PLATFORM)
    monkeypatch.setitem(PLATFORMS, PLATFORM, stub)
    return stub


@pytest.fixture
def connection(stub_platform: StubPlatform, tenant: Tenant) -> tuple[PlatformConnection, str]:
    created = create_connection(tenant=tenant, platform=PLATFORM)
    assert created.generated_secret is not None
    return created.connection, created.generated_secret


def ended(call_id: str = "p-1", **call: Any) -> dict[str, Any]:
    return {
        "event": "call_ended",
        "call": {
            "id": call_id,
            "start": "2026-03-01T10:00:00Z",
            "end": "2026-03-01T10:02:00Z",
            "cost_cents": 12.5,
            "reason": "user-hangup",
            "secret_token": "tok-very-secret",
            "transcript": [
                {"role": "assistant", "text": "Hi!"},
                {"role": "user", "text": "Hello."},
            ],
            **call,
        },
    }


def started(call_id: str = "p-1") -> dict[str, Any]:
    return {"event": "call_started", "call": {"id": call_id, "start": "2026-03-01T10:00:00Z"}}


def deliver(
    connection: PlatformConnection,
    secret: str,
    payload: Any,
    *,
    at: float | None = None,
    body: bytes | None = None,
    signature: str | None = None,
    platform: str | None = None,
) -> Any:
    raw = body if body is not None else json.dumps(payload).encode()
    header = signature if signature is not None else sign(secret, raw, at)
    return Client().post(
        f"/api/v1/webhooks/{platform or connection.platform}/{connection.webhook_token}",
        raw,
        content_type="application/json",
        HTTP_X_STUB_SIGNATURE=header,
    )


def row_counts() -> dict[str, int]:
    """Rows of every calls table (the connection's bookkeeping columns are not rows)."""
    return {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("calls").get_models()
    }


# --- verified deliveries ---------------------------------------------------------------------


def test_a_verified_delivery_upserts_the_call_and_keeps_the_redacted_payload(connection):
    conn, secret = connection

    response = deliver(conn, secret, ended())

    assert response.status_code == 200
    assert response.json() == {"status": "created", "event_type": "call_ended", "call_id": "p-1"}
    call = Call.objects.get(tenant=conn.tenant, call_id="p-1")
    assert call.platform == PLATFORM
    assert str(call.cost_usd) == "0.125000"
    assert call.duration == 120
    assert call.platform_end_reason == "user-hangup"
    assert [t.role for t in call.turns.order_by("position")] == ["bot", "human"]
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.tenant_id, delivery.platform, delivery.call_id) == (
        conn.tenant_id,
        PLATFORM,
        "p-1",
    )
    assert delivery.event_type == "call_ended"
    assert delivery.payload["call"]["secret_token"] == "[redacted]"
    assert "tok-very-secret" not in json.dumps(delivery.payload)
    conn.refresh_from_db()
    assert conn.last_delivery_at is not None
    assert conn.failure_count == 0


def test_a_resend_is_a_duplicate_and_writes_nothing(connection):
    conn, secret = connection
    deliver(conn, secret, ended())
    before = row_counts()
    updated_at = Call.objects.get().updated_at

    response = deliver(conn, secret, ended())

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert row_counts() == before
    assert Call.objects.get().updated_at == updated_at


def test_out_of_order_events_converge_to_the_in_order_call(connection, other_tenant):
    conn, secret = connection
    deliver(conn, secret, ended("late"))
    deliver(conn, secret, started("late"))
    deliver(conn, secret, started("ordered"))
    deliver(conn, secret, ended("ordered"))

    fields = ("status", "start_time", "end_time", "duration", "cost_usd", "platform_end_reason")
    late, ordered = (
        Call.objects.values(*fields, "turn_count").get(call_id=call_id)
        for call_id in ("late", "ordered")
    )
    assert late == ordered
    assert late["status"] == "completed"


def test_an_event_callscope_does_not_use_is_ignored_with_200_and_not_kept(connection):
    conn, secret = connection
    before = row_counts()

    response = deliver(conn, secret, {"event": "ping", "call": {"id": "p-1"}})

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert row_counts() == before


# --- refused deliveries ----------------------------------------------------------------------


def assert_refused(response: Any, code: int, conn: PlatformConnection, before: dict[str, int]):
    assert response.status_code == code
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
    assert row_counts() == before
    conn.refresh_from_db()
    assert conn.failure_count == 1
    assert conn.last_failure_at is not None


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s, body: "", id="missing"),
        pytest.param(lambda s, body: "t=1,v1", id="malformed"),
        pytest.param(lambda s, body: sign("not-the-secret", body), id="other secret"),
        pytest.param(lambda s, body: sign(s, body, time.time() - 301), id="stale"),
        pytest.param(lambda s, body: sign(s, body, time.time() + 301), id="future"),
        pytest.param(lambda s, body: sign(s, body + b" "), id="other body"),
    ],
)
def test_forged_deliveries_are_401_and_write_nothing(connection, forge):
    conn, secret = connection
    body = json.dumps(ended()).encode()
    before = row_counts()

    response = deliver(conn, secret, None, body=body, signature=forge(secret, body))

    assert_refused(response, 401, conn, before)


def test_a_one_byte_change_to_a_signed_body_fails(connection):
    conn, secret = connection
    body = json.dumps(ended()).encode()
    signature = sign(secret, body)
    tampered = body.replace(b'"cost_cents": 12.5', b'"cost_cents": 92.5')
    before = row_counts()

    response = deliver(conn, secret, None, body=tampered, signature=signature)

    assert_refused(response, 401, conn, before)


def test_a_verified_malformed_payload_is_a_400_naming_the_field(connection):
    conn, secret = connection
    before = row_counts()

    response = deliver(conn, secret, {"event": "call_ended", "call": {"id": 7}})

    assert_refused(response, 400, conn, before)
    assert response.json()["errors"] == [{"field": "call.id", "message": "must be a string"}]


def test_a_payload_mapping_to_an_invalid_document_is_a_400_naming_the_field(connection):
    conn, secret = connection
    before = row_counts()

    response = deliver(conn, secret, ended(start="yesterday"))

    assert_refused(response, 400, conn, before)
    assert [e["field"] for e in response.json()["errors"]] == ["start_time"]


def test_a_2000_deep_verified_body_is_a_400_not_a_500(connection):
    conn, secret = connection
    body = b'{"event": "call_ended", "call": {"id": "p-1", "x": ' + b"[" * 2000 + b"]" * 2000
    body += b"}}"
    before = row_counts()

    response = deliver(conn, secret, None, body=body)

    assert_refused(response, 400, conn, before)


def test_a_body_over_the_cap_is_413_before_anything_else(connection, settings):
    conn, secret = connection
    settings.PLATFORM_WEBHOOK_MAX_BYTES = 100
    before = row_counts()

    response = deliver(conn, secret, ended())

    assert response.status_code == 413
    assert row_counts() == before


# --- tenants and tokens ----------------------------------------------------------------------


def test_unknown_tokens_and_platforms_are_the_same_404(connection):
    conn, _ = connection
    body = json.dumps(ended()).encode()
    answers = [
        Client().post(path, body, content_type="application/json")
        for path in (
            "/api/v1/webhooks/bland/not-a-token",
            f"/api/v1/webhooks/vapi/{conn.webhook_token}",
            f"/api/v1/webhooks/nosuchplatform/{conn.webhook_token}",
        )
    ]

    assert {r.status_code for r in answers} == {404}
    assert len({json.dumps(r.json()) for r in answers}) == 1
    assert not WebhookDelivery.objects.exists()


def test_another_tenants_token_never_writes_into_this_tenant(connection, other_tenant):
    conn, secret = connection
    other = create_connection(tenant=other_tenant, platform=PLATFORM)
    assert other.generated_secret is not None

    # This tenant's signature on the other tenant's URL: refused.
    refused = deliver(other.connection, secret, ended("mine"))
    # The other tenant's own delivery lands in the other tenant only.
    accepted = deliver(other.connection, other.generated_secret, ended("theirs"))

    assert refused.status_code == 401
    assert accepted.status_code == 200
    assert not Call.objects.filter(tenant=conn.tenant).exists()
    assert not WebhookDelivery.objects.filter(tenant=conn.tenant).exists()
    assert list(Call.objects.filter(tenant=other_tenant).values_list("call_id", flat=True)) == [
        "theirs"
    ]


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_are_encrypted_at_rest(connection):
    conn, secret = connection
    conn.refresh_from_db()

    assert secret not in conn.secret_encrypted
    assert decrypt_secret(conn.secret_encrypted) == secret


def test_a_rotated_secret_verifies_until_the_overlap_ends(connection, settings):
    conn, old = connection
    settings.PLATFORM_SECRET_OVERLAP_HOURS = 2
    now = timezone.now()
    new = rotate_secret(connection=conn, now=now)
    assert new is not None and new != old

    assert credentials(conn, now=now + timedelta(hours=1)).secrets == (new, old)
    assert credentials(conn, now=now + timedelta(hours=2)).secrets == (new,)
    assert deliver(conn, old, ended("during-overlap")).status_code == 200
    PlatformConnection.objects.filter(pk=conn.pk).update(
        previous_secret_expires_at=now - timedelta(seconds=1)
    )
    assert deliver(conn, old, ended("after-overlap")).status_code == 401
    assert deliver(conn, new, ended("new-secret")).status_code == 200


def test_without_encryption_keys_production_fails_with_a_clear_error(connection, settings):
    conn, _ = connection
    settings.DEBUG = False
    settings.CALLSCOPE_ENCRYPTION_KEYS = []

    with pytest.raises(ImproperlyConfigured, match="CALLSCOPE_ENCRYPTION_KEYS"):
        credentials(conn, now=timezone.now())


def test_configured_keys_encrypt_with_the_first_and_decrypt_with_any(
    tenant, stub_platform, settings
):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CALLSCOPE_ENCRYPTION_KEYS = [old_key]
    created = create_connection(tenant=tenant, platform=PLATFORM, secret="s3cret")
    settings.CALLSCOPE_ENCRYPTION_KEYS = [new_key, old_key]

    assert credentials(created.connection, now=timezone.now()).secrets == ("s3cret",)
    assert (
        Fernet(old_key.encode()).decrypt(created.connection.secret_encrypted.encode()) == b"s3cret"
    )
    rotated = rotate_secret(connection=created.connection, secret="n3w")
    assert rotated is None
    assert Fernet(new_key.encode()).decrypt(created.connection.secret_encrypted.encode()) == b"n3w"


def test_a_malformed_encryption_key_is_a_clear_error(connection, settings):
    conn, _ = connection
    settings.CALLSCOPE_ENCRYPTION_KEYS = ["not-a-key"]

    with pytest.raises(ImproperlyConfigured, match="key 1 is not a Fernet key"):
        credentials(conn, now=timezone.now())


def test_the_token_is_looked_up_by_its_hash_and_never_logged(connection, caplog):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    conn, _ = connection
    with caplog.at_level(logging.INFO), CaptureQueriesContext(db) as queries:
        refused = deliver(conn, "not-the-secret", ended())

    assert refused.status_code == 401
    assert not [q["sql"] for q in queries.captured_queries if conn.webhook_token in q["sql"]]
    assert any(conn.webhook_token_hash in q["sql"] for q in queries.captured_queries)
    lines = [record.getMessage() for record in caplog.records]
    assert any(f"/api/v1/webhooks/{PLATFORM}/<token>" in line for line in lines), lines
    assert not [line for line in lines if conn.webhook_token in line]


def test_secrets_reencrypted_under_a_new_first_key_survive_removing_the_old_key(
    tenant, stub_platform, settings
):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CALLSCOPE_ENCRYPTION_KEYS = [old_key]
    created = create_connection(tenant=tenant, platform=PLATFORM, secret="first")
    rotate_secret(connection=created.connection, secret="second")
    settings.CALLSCOPE_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("reencrypt_platform_secrets", stdout=io.StringIO())

    settings.CALLSCOPE_ENCRYPTION_KEYS = [new_key]
    connection = PlatformConnection.objects.get(pk=created.connection.pk)
    assert credentials(connection, now=timezone.now()).secrets == ("second", "first")


def test_a_delivery_runs_a_bounded_number_of_queries(connection, django_assert_max_num_queries):
    conn, secret = connection
    with django_assert_max_num_queries(16):
        assert deliver(conn, secret, ended()).json()["status"] == "created"
    with django_assert_max_num_queries(10):
        assert deliver(conn, secret, ended()).json()["status"] == "duplicate"
