"""Operating platform connections: ``connect_platform``, ``reprocess_deliveries``,
``import_calls --format``, the retention prune, the admin pages, and concurrent resends."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.encryption import decrypt_secret
from calls.models import (
    Call,
    PlatformConnection,
    Tenant,
    TenantMembership,
    TranscriptTurn,
    WebhookDelivery,
)
from calls.platform_connections import create_connection
from calls.platforms import PLATFORMS
from calls.tasks import prune_webhook_deliveries
from tests.calls.platform_stub import StubPlatform, sign
from tests.calls.platforms.helpers import payload as reference_payload
from tests.calls.test_platform_webhooks import deliver, ended, started

pytestmark = pytest.mark.django_db

PLATFORM = "bland"


@pytest.fixture
def stub_platform(monkeypatch: pytest.MonkeyPatch) -> StubPlatform:
    stub = StubPlatform(PLATFORM)
    monkeypatch.setitem(PLATFORMS, PLATFORM, stub)
    return stub


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- connect_platform ------------------------------------------------------------------------


def test_connect_platform_prints_the_url_and_a_generated_secret_once(tenant, stub_platform):
    out, _ = run("connect_platform", tenant.slug, PLATFORM, "--base-url", "https://cs.example/")

    connection = PlatformConnection.objects.get(tenant=tenant, platform=PLATFORM)
    url = f"https://cs.example/api/v1/webhooks/{PLATFORM}/{connection.webhook_token}"
    assert url in out
    (secret,) = [line.split(": ", 1)[1] for line in out.splitlines() if "webhook secret" in line]
    assert decrypt_secret(connection.secret_encrypted) == secret
    assert secret not in connection.secret_encrypted


def test_connect_platform_with_a_secret_stores_it_and_does_not_print_it(tenant, stub_platform):
    out, _ = run("connect_platform", tenant.slug, PLATFORM, "--secret", "platform-s3cret")

    connection = PlatformConnection.objects.get(tenant=tenant)
    assert "platform-s3cret" not in out
    assert decrypt_secret(connection.secret_encrypted) == "platform-s3cret"


def test_connect_platform_without_a_secret_where_the_platform_chooses_it_fails(
    tenant, stub_platform
):
    stub_platform.generates_secret = False

    with pytest.raises(CommandError, match="--secret"):
        run("connect_platform", tenant.slug, PLATFORM)
    assert not PlatformConnection.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("synthflow",), "Unknown platform"),
        (("nosuch",), "Unknown platform"),
        ((PLATFORM, "--scheme", "rot13"), "Unknown scheme"),
        ((PLATFORM, "--header", "bad header"), "header name"),
        ((PLATFORM, "--secret", ""), "must not be empty"),
    ],
)
def test_connect_platform_refuses_bad_arguments(tenant, stub_platform, args, message):
    with pytest.raises(CommandError, match=message):
        run("connect_platform", tenant.slug, *args)
    assert not PlatformConnection.objects.exists()


def test_a_second_connection_to_the_same_platform_is_refused(tenant, stub_platform):
    run("connect_platform", tenant.slug, PLATFORM)

    with pytest.raises(CommandError, match="already"):
        run("connect_platform", tenant.slug, PLATFORM)
    assert PlatformConnection.objects.count() == 1


# --- reprocess_deliveries --------------------------------------------------------------------


@pytest.fixture
def delivered(tenant: Tenant, stub_platform: StubPlatform) -> PlatformConnection:
    created = create_connection(tenant=tenant, platform=PLATFORM)
    secret = created.generated_secret
    assert secret is not None
    for payload in (started("p-1"), ended("p-1"), ended("p-2", cost_cents=40)):
        assert deliver(created.connection, secret, payload).status_code == 200
    return created.connection


def deliveries_snapshot() -> list[tuple[Any, ...]]:
    return list(
        WebhookDelivery.objects.order_by("pk").values_list(
            "pk", "tenant_id", "platform", "call_id", "event_type", "idempotency_key", "payload"
        )
    )


def test_reprocessing_after_a_mapping_fix_updates_the_calls_and_nothing_else(
    delivered, stub_platform, other_tenant
):
    other = Call.objects.create(
        tenant=other_tenant, call_id="p-1", status="completed", start_time=timezone.now()
    )
    deliveries = deliveries_snapshot()
    calls = Call.objects.count()
    assert str(Call.objects.get(tenant=delivered.tenant, call_id="p-2").cost_usd) == "0.400000"

    stub_platform.cost_divisor = 1000  # the "fix": costs were in tenths of a cent
    out, _ = run("reprocess_deliveries", "--platform", PLATFORM)

    assert "Reprocessed 3 deliveries: 2 updated" in out
    costs = dict(Call.objects.filter(tenant=delivered.tenant).values_list("call_id", "cost_usd"))
    assert {k: str(v) for k, v in costs.items()} == {"p-1": "0.012500", "p-2": "0.040000"}
    assert deliveries_snapshot() == deliveries
    assert Call.objects.count() == calls
    other.refresh_from_db()
    assert other.cost_usd is None


def test_reprocessing_without_a_change_changes_nothing(delivered):
    before = list(Call.objects.order_by("pk").values())

    out, _ = run("reprocess_deliveries")

    assert "0 updated" in out
    assert list(Call.objects.order_by("pk").values()) == before


def test_reprocessing_since_a_date_leaves_older_deliveries_alone(delivered, stub_platform):
    WebhookDelivery.objects.filter(call_id="p-2").update(
        received_at=timezone.now() - timedelta(days=10)
    )
    stub_platform.cost_divisor = 1000
    since = (timezone.now() - timedelta(days=1)).date().isoformat()

    run("reprocess_deliveries", "--since", since)

    assert str(Call.objects.get(call_id="p-2").cost_usd) == "0.400000"
    assert str(Call.objects.get(call_id="p-1").cost_usd) == "0.012500"


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--platform", "nosuch"), "Unknown platform"), (("--since", "soon"), "ISO 8601")],
)
def test_reprocess_refuses_bad_arguments(stub_platform, args, message):
    with pytest.raises(CommandError, match=message):
        run("reprocess_deliveries", *args)


# --- import_calls --format ---------------------------------------------------------------------


def test_import_calls_maps_platform_payloads_per_line(tenant, stub_platform, tmp_path: Path):
    lines = [
        json.dumps(started("imp-1")),
        json.dumps(ended("imp-1")),
        json.dumps({"event": "ping", "call": {"id": "imp-1"}}),
        json.dumps({"event": "call_ended", "call": {"id": 5}}),
        "{not json",
        json.dumps(ended("imp-2", start="never")),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")

    out, err = run("import_calls", str(path), "--tenant", tenant.slug, "--format", PLATFORM)

    assert "3 bad line(s), 1 ignored" in out
    assert "line 4: invalid bland payload: call.id" in err
    assert "line 5: invalid JSON" in err
    assert "line 6: invalid call document: start_time" in err
    call = Call.objects.get(tenant=tenant, call_id="imp-1")
    assert (call.status, call.platform, str(call.cost_usd)) == ("completed", PLATFORM, "0.125000")
    assert TranscriptTurn.objects.filter(call=call).count() == 2
    # Imports backfill calls; they are not deliveries.
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    ("platform", "fixture"),
    [
        ("vapi", "vapi-end-of-call-report"),
        ("retell", "retell-call_ended"),
        ("elevenlabs", "elevenlabs-post_call_transcription"),
        ("bland", "bland-post_call"),
    ],
)
def test_import_calls_maps_exported_payloads_with_the_platforms_module(
    tenant, tmp_path: Path, platform: str, fixture: str
):
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(reference_payload(fixture)) + "\n")
    expected = PLATFORMS[platform].parse_payload(reference_payload(fixture))
    assert expected.document is not None

    run("import_calls", str(path), "--tenant", tenant.slug, "--format", platform)

    call = Call.objects.get(tenant=tenant, call_id=expected.call_id)
    assert call.platform == platform
    assert call.status == expected.document["status"]


# --- retention ---------------------------------------------------------------------------------


def test_pruning_keeps_each_tenants_retention_and_reruns_change_nothing(
    delivered, other_tenant, stub_platform
):
    other_tenant.delivery_retention_days = 90
    other_tenant.save()
    other = create_connection(tenant=other_tenant, platform=PLATFORM)
    assert other.generated_secret
    deliver(other.connection, other.generated_secret, ended("o-1"))
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(days=31))
    WebhookDelivery.objects.filter(call_id="p-2").update(received_at=timezone.now())

    assert prune_webhook_deliveries() == 2
    assert prune_webhook_deliveries() == 0
    assert set(WebhookDelivery.objects.values_list("call_id", flat=True)) == {"p-2", "o-1"}
    # The calls themselves are not touched by the prune.
    assert Call.objects.filter(tenant=delivered.tenant).count() == 2


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def test_the_admin_creates_a_connection_and_shows_its_secret_only_once(
    tenant, stub_platform, superuser_client
):
    response = superuser_client.post(
        reverse("admin:calls_platformconnection_add"),
        {"tenant": tenant.pk, "platform": PLATFORM, "scheme": "", "header_name": "", "secret": ""},
    )

    assert response.status_code == 200
    connection = PlatformConnection.objects.get(tenant=tenant)
    secret = decrypt_secret(connection.secret_encrypted)
    assert secret in response.text
    assert f"/api/v1/webhooks/{PLATFORM}/{connection.webhook_token}" in response.text
    page = superuser_client.get(
        reverse("admin:calls_platformconnection_change", args=[connection.pk])
    )
    assert page.status_code == 200
    assert secret not in page.text
    assert connection.secret_encrypted not in page.text
    assert connection.webhook_token in page.text


def test_the_admin_rotate_action_shows_the_new_secret_once_and_keeps_the_old_for_the_overlap(
    tenant, stub_platform, superuser_client
):
    created = create_connection(tenant=tenant, platform=PLATFORM)
    response = superuser_client.post(
        reverse("admin:calls_platformconnection_changelist"),
        {"action": "rotate_generated_secrets", "_selected_action": [created.connection.pk]},
    )

    connection = PlatformConnection.objects.get(pk=created.connection.pk)
    new = decrypt_secret(connection.secret_encrypted)
    assert new != created.generated_secret
    assert new in response.text
    assert decrypt_secret(connection.previous_secret_encrypted) == created.generated_secret
    assert connection.previous_secret_expires_at > timezone.now()


def test_the_admin_change_form_rotates_to_a_pasted_secret(tenant, stub_platform, superuser_client):
    created = create_connection(tenant=tenant, platform=PLATFORM, secret="first")
    url = reverse("admin:calls_platformconnection_change", args=[created.connection.pk])

    response = superuser_client.post(url, {"scheme": "hmac", "header_name": "", "secret": "second"})

    assert response.status_code == 302
    connection = PlatformConnection.objects.get(pk=created.connection.pk)
    assert decrypt_secret(connection.secret_encrypted) == "second"
    assert decrypt_secret(connection.previous_secret_encrypted) == "first"


def test_tenant_staff_see_their_connections_but_not_another_tenants(
    tenant, other_tenant, stub_platform
):
    mine = create_connection(tenant=tenant, platform=PLATFORM).connection
    theirs = create_connection(tenant=other_tenant, platform=PLATFORM).connection
    PlatformConnection.objects.filter(pk=mine.pk).update(failure_count=3)
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    client = Client()
    client.force_login(user)

    listing = client.get(reverse("admin:calls_platformconnection_changelist"))
    own = client.get(reverse("admin:calls_platformconnection_change", args=[mine.pk]))
    foreign = client.get(reverse("admin:calls_platformconnection_change", args=[theirs.pk]))

    assert listing.status_code == 200
    assert own.status_code == 200
    assert mine.webhook_token in own.text
    assert foreign.status_code == 404
    assert theirs.webhook_token not in listing.text
    # Staff cannot create or change connections (nor rotate their secrets).
    assert client.get(reverse("admin:calls_platformconnection_add")).status_code == 403


def test_the_delivery_admin_shows_the_redacted_payload(delivered, superuser_client):
    delivery = WebhookDelivery.objects.filter(event_type="call_ended").first()
    assert delivery is not None

    page = superuser_client.get(reverse("admin:calls_webhookdelivery_change", args=[delivery.pk]))

    assert page.status_code == 200
    assert "[redacted]" in page.text
    assert "tok-very-secret" not in page.text


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_deliveries_write_one_delivery_and_one_call(monkeypatch):
    monkeypatch.setitem(PLATFORMS, PLATFORM, StubPlatform(PLATFORM))
    tenant = Tenant.objects.create(name="Race", slug="race")
    created = create_connection(tenant=tenant, platform=PLATFORM)
    assert created.generated_secret is not None
    body = json.dumps(ended("race-1")).encode()
    signature = sign(created.generated_secret, body)
    writers = 8
    barrier = threading.Barrier(writers)
    answers: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            barrier.wait()
            response = deliver(created.connection, "", None, body=body, signature=signature)
            answers.append(response.json().get("status", str(response.status_code)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(answers) == ["created"] + ["duplicate"] * (writers - 1)
    assert WebhookDelivery.objects.filter(tenant=tenant).count() == 1
    assert Call.objects.filter(tenant=tenant).count() == 1
    assert TranscriptTurn.objects.filter(call__tenant=tenant).count() == 2
