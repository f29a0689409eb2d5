"""Synthflow deliveries replayed under a captured signature, and the webhook's credentials.

Synthflow signs only the call id, so a captured delivery's signature fits any body for that call.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.models import RollupDay
from calls.models import (
    ActivityEvent,
    Call,
    CollectedVariable,
    ExecutedAction,
    Lead,
    SynthflowDelivery,
    Tenant,
    TenantMembership,
    TranscriptTurn,
)
from calls.services import ingest_call_documents
from calls.webhooks import sign_call_id

pytestmark = pytest.mark.django_db

CALL_ID = "wh-replay-1"
PAYLOAD: dict[str, Any] = {
    "status": "completed",
    "lead": {"name": "Eddie", "phone_number": "+4915758658647", "prompt_variables": {"a": "1"}},
    "call": {
        "status": "completed",
        "end_call_reason": "agent_goodbye",
        "model_id": "agent-wh",
        "timezone": "Europe/Berlin",
        "call_id": CALL_ID,
        "duration": 113,
        "start_time": "2026-03-01T10:00:00+00:00",
        "transcript": "\nbot: Hi\nhuman: Hello",
        "recording_url": "https://recordings.example.com/wh-replay-1.mp3",
    },
    "executed_actions": {
        "extract": {"name": "extract", "action_type": "extract_info_action_type"},
    },
    "analysis": {"call_summary": "ok"},
    "collected_variables": {"agent_1": {"city": {"value": "Berlin", "collected": True}}},
}
# A lead of the tenant's that a rewritten body points the call at, by phone.
OTHER_LEAD_PHONE = "+4915700000001"


def rewritten(payload: dict[str, Any] = PAYLOAD, **call_fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(payload)
    body["call"].update(call_fields)
    if "status" in call_fields:
        body["status"] = call_fields["status"]
    return body


def deliver(
    tenant: Tenant,
    payload: dict[str, Any] = PAYLOAD,
    *,
    token: str | None = None,
    secret: str | None = None,
) -> Any:
    call_id = payload["call"]["call_id"]
    return APIClient().post(
        f"/api/v1/webhooks/synthflow/{token or tenant.webhook_token}",
        json.dumps(payload),
        content_type="application/json",
        HTTP_SYNTHFLOW_SIGNATURE=sign_call_id(secret or tenant.webhook_secret, call_id),
    )


# Every table a delivery writes (or marks dirty), row by row.
SNAPSHOT_MODELS = (
    Call,
    TranscriptTurn,
    CollectedVariable,
    ExecutedAction,
    Lead,
    ActivityEvent,
    SynthflowDelivery,
    RollupDay,
)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS
    }


def assert_unchanged(before: dict[str, list[dict[str, Any]]]) -> None:
    after = snapshot()
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table], strict=True):
            for field, value in old.items():
                assert new[field] == value, f"{table}.{field} changed"


@pytest.fixture
def other_lead(tenant: Tenant) -> Lead:
    return Lead.objects.create(
        tenant=tenant, lead_id="lead_other", phone_number=OTHER_LEAD_PHONE, name="Mallory"
    )


def outcome_of(response: Any) -> str:
    (result,) = response.json()["results"]
    return str(result["outcome"])


# --- replays of a captured delivery ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"recording_url": "https://evil.example.com/fake.mp3"},
        {"duration": 9999},
        {"start_time": "2026-02-01T08:00:00+00:00"},
        {"lead": True},
        {
            "recording_url": "https://evil.example.com/fake.mp3",
            "duration": 9999,
            "start_time": "2026-02-01T08:00:00+00:00",
            "lead": True,
        },
        # The same rank as the stored "completed", or an earlier one: not later in the lifecycle.
        {"status": "left_voicemail", "recording_url": "https://evil.example.com/fake.mp3"},
        {"status": "in-progress", "duration": 1},
    ],
    ids=["recording_url", "duration", "start_time", "lead", "all", "same_rank", "earlier"],
)
def test_replayed_signature_with_a_rewritten_body_changes_nothing(
    tenant: Tenant, other_lead: Lead, changes: dict[str, Any]
) -> None:
    assert deliver(tenant).status_code == 201
    call_changes = {k: v for k, v in changes.items() if k != "lead"}
    body = rewritten(**call_changes)
    if changes.get("lead"):
        body["lead"] = {"name": "Mallory", "phone_number": OTHER_LEAD_PHONE}
    before = snapshot()

    response = deliver(tenant, body)

    assert response.status_code == 200
    assert response.json() == {
        "results": [{"call_id": CALL_ID, "outcome": "ignored"}],
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "ignored": 1,
    }
    assert_unchanged(before)
    call = Call.objects.get(tenant=tenant, call_id=CALL_ID)
    assert call.recording_url == "https://recordings.example.com/wh-replay-1.mp3"
    assert call.duration == 113
    assert call.start_time.isoformat() == "2026-03-01T10:00:00+00:00"
    assert (call.lead_id, call.lead_name, call.lead_phone_number) == (
        None,
        "Eddie",
        "+4915758658647",
    )
    assert call.status == "completed"


def test_an_ignored_delivery_is_logged_without_its_body(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(tenant)

    with caplog.at_level(logging.WARNING, logger="calls.webhook_ingest"):
        deliver(tenant, rewritten(recording_url="https://evil.example.com/fake.mp3"))

    (record,) = [r for r in caplog.records if r.name == "calls.webhook_ingest"]
    assert f"call_id={CALL_ID}" in record.getMessage()
    assert "evil.example.com" not in record.getMessage()


def test_identical_replay_is_unchanged_and_does_not_undo_a_later_api_update(
    tenant: Tenant,
) -> None:
    deliver(tenant)
    # The tenant corrects the call through the API after the delivery.
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {
                "call_id": CALL_ID,
                "status": "completed",
                "start_time": "2026-03-01T10:00:00Z",
                "recording_url": "https://recordings.example.com/fixed.mp3",
            }
        ],
    )
    before = snapshot()

    response = deliver(tenant)
    reordered = deliver(tenant, dict(reversed(list(PAYLOAD.items()))))

    assert response.status_code == 200
    assert outcome_of(response) == "unchanged"
    assert outcome_of(reordered) == "unchanged"
    assert_unchanged(before)
    call = Call.objects.get(tenant=tenant, call_id=CALL_ID)
    assert call.recording_url == "https://recordings.example.com/fixed.mp3"


def test_a_later_lifecycle_status_under_the_same_signature_is_applied(tenant: Tenant) -> None:
    live = rewritten(status="in-progress", duration=None, recording_url=None)
    assert deliver(tenant, live).status_code == 201

    response = deliver(tenant)  # the post-call delivery: completed, with its recording

    assert response.status_code == 200
    assert outcome_of(response) == "updated"
    call = Call.objects.get(tenant=tenant, call_id=CALL_ID)
    assert (call.status, call.duration, call.recording_url) == (
        "completed",
        113,
        "https://recordings.example.com/wh-replay-1.mp3",
    )
    # Now final: the earlier delivery replayed, or a rewritten final one, change nothing.
    before = snapshot()
    assert outcome_of(deliver(tenant, live)) == "ignored"
    assert outcome_of(deliver(tenant, rewritten(duration=5))) == "ignored"
    assert outcome_of(deliver(tenant)) == "unchanged"
    assert_unchanged(before)


def test_the_first_delivery_of_a_call_stored_through_the_api_is_applied_then_guarded(
    tenant: Tenant,
) -> None:
    ingest_call_documents(
        tenant=tenant,
        documents=[{"call_id": CALL_ID, "status": "completed", "start_time": "2026-03-01T10:00Z"}],
    )

    first = deliver(tenant)
    replay = deliver(tenant, rewritten(recording_url="https://evil.example.com/fake.mp3"))

    assert outcome_of(first) == "updated"
    assert outcome_of(replay) == "ignored"
    assert SynthflowDelivery.objects.get(call__call_id=CALL_ID).body_hash == canonical(PAYLOAD)
    call = Call.objects.get(tenant=tenant, call_id=CALL_ID)
    assert call.recording_url == "https://recordings.example.com/wh-replay-1.mp3"


def test_deliveries_are_guarded_per_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    deliver(tenant)

    response = deliver(other_tenant, rewritten(duration=7))

    assert outcome_of(response) == "created"
    assert Call.objects.get(tenant=other_tenant).duration == 7
    assert outcome_of(deliver(tenant, rewritten(duration=7))) == "ignored"
    assert Call.objects.get(tenant=tenant).duration == 113


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_first_deliveries_apply_one_body_and_guard_the_other(tenant: Tenant) -> None:
    bodies = [PAYLOAD, rewritten(recording_url="https://evil.example.com/fake.mp3")]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> None:
        try:
            barrier.wait()
            outcomes.append(outcome_of(deliver(tenant, body)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "ignored"]
    call = Call.objects.get(tenant=tenant, call_id=CALL_ID)
    (winner,) = [b for b in bodies if b["call"]["recording_url"] == call.recording_url]
    assert SynthflowDelivery.objects.get(call=call).body_hash == canonical(winner)
    assert call.turns.count() == 2


def canonical(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the URL token and the secret -------------------------------------------------------------


def test_the_token_is_looked_up_by_its_hash_never_compared_in_sql(tenant: Tenant) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = deliver(tenant)

    assert response.status_code == 201
    assert not [q["sql"] for q in queries.captured_queries if tenant.webhook_token in q["sql"]]
    assert any(tenant.webhook_token_hash in q["sql"] for q in queries.captured_queries)
    assert tenant.webhook_token_hash == hashlib.sha256(tenant.webhook_token.encode()).hexdigest()


def test_the_token_never_reaches_a_log_line(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        bad_signature = APIClient().post(
            f"/api/v1/webhooks/synthflow/{tenant.webhook_token}",
            json.dumps(PAYLOAD),
            content_type="application/json",
            HTTP_SYNTHFLOW_SIGNATURE="bm90IHRoZSBzaWduYXR1cmU=",
        )

    assert bad_signature.status_code == 401
    lines = [record.getMessage() for record in caplog.records]
    assert any("/api/v1/webhooks/synthflow/<token>" in line for line in lines), lines
    assert not [line for line in lines if tenant.webhook_token in line]


def test_development_server_request_lines_hide_the_token() -> None:
    logger = logging.getLogger("django.server")
    record = logger.makeRecord(
        "django.server",
        logging.INFO,
        __file__,
        0,
        '"%s" %s %s',
        ("POST /api/v1/webhooks/synthflow/s3cr3t-t0ken HTTP/1.1", "201", "120"),
        None,
    )

    assert logger.filter(record)
    assert record.getMessage() == '"POST /api/v1/webhooks/synthflow/<token> HTTP/1.1" 201 120'


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rotate_webhook_token_command_prints_the_new_url_once_and_ends_the_old(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    old_token = tenant.webhook_token
    other_token = other_tenant.webhook_token

    out, err = run("rotate_webhook_token", "acme")

    tenant.refresh_from_db()
    assert tenant.webhook_token != old_token
    assert out == f"/api/v1/webhooks/synthflow/{tenant.webhook_token}\n"
    assert tenant.webhook_token not in err
    old, unknown = deliver(tenant, token=old_token), deliver(tenant, token="not-a-token")
    # The old token is answered exactly as an unknown one.
    assert (old.status_code, old.json()) == (404, {"detail": "Unknown webhook."})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Unknown webhook."})
    assert Call.objects.count() == 0
    assert deliver(tenant).status_code == 201
    other_tenant.refresh_from_db()
    assert other_tenant.webhook_token == other_token


def test_rotate_webhook_secret_command_ends_the_old_secret(tenant: Tenant) -> None:
    old_secret = tenant.webhook_secret

    out, _ = run("rotate_webhook_secret", str(tenant.pk))

    tenant.refresh_from_db()
    assert out == f"{tenant.webhook_secret}\n"
    assert tenant.webhook_secret != old_secret
    assert deliver(tenant, secret=old_secret).status_code == 401
    assert deliver(tenant).status_code == 201


def test_rotate_commands_name_a_missing_tenant() -> None:
    with pytest.raises(CommandError, match="nope"):
        run("rotate_webhook_token", "nope")


def test_superuser_rotates_token_and_secret_from_the_tenant_admin_staff_cannot(
    admin_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    old_token, old_secret = tenant.webhook_token, tenant.webhook_secret
    url = reverse("admin:calls_tenant_changelist")
    staff = get_user_model().objects.create_user("staffer", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=staff)
    staff_client = Client()
    staff_client.force_login(staff)
    staff_client.post(url, {"action": "rotate_webhook_tokens", "_selected_action": [tenant.pk]})
    tenant.refresh_from_db()
    assert tenant.webhook_token == old_token

    for action in ("rotate_webhook_tokens", "rotate_webhook_secrets"):
        response = admin_client.post(
            url, {"action": action, "_selected_action": [tenant.pk]}, follow=True
        )
        assert response.status_code == 200
        assert "Rotated the webhook" in response.text

    tenant.refresh_from_db()
    assert tenant.webhook_token != old_token
    assert tenant.webhook_secret != old_secret
    assert old_token not in response.text
    assert deliver(tenant, token=old_token).status_code == 404
    assert deliver(tenant, secret=old_secret).status_code == 401
    assert deliver(tenant).status_code == 201
    page = admin_client.get(reverse("admin:calls_tenant_change", args=[tenant.pk])).text
    assert f"/api/v1/webhooks/synthflow/{tenant.webhook_token}" in page
    untouched = Tenant.objects.get(pk=other_tenant.pk)
    assert (untouched.webhook_token, untouched.webhook_secret) == (
        other_tenant.webhook_token,
        other_tenant.webhook_secret,
    )


def test_the_token_and_secret_are_not_edited_by_hand(admin_client: Client, tenant: Tenant) -> None:
    old_token, old_secret = tenant.webhook_token, tenant.webhook_secret
    url = reverse("admin:calls_tenant_change", args=[tenant.pk])

    response = admin_client.post(
        url,
        {
            "name": "Acme",
            "slug": "acme",
            "timezone": "UTC",
            "delivery_retention_days": "30",
            "webhook_token": "weak",
            "webhook_secret": "weak",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.webhook_token, tenant.webhook_secret) == (old_token, old_secret)
