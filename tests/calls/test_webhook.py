"""Synthflow's post-call webhook: signature verification, mapping and replays."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from calls.models import Call
from calls.webhooks import sign_call_id

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "status": "completed",
    "error_message": "",
    "lead": {"name": "Eddie", "phone_number": "+4915758658647", "prompt_variables": {"a": "1"}},
    "call": {
        "status": "completed",
        "end_call_reason": "agent_goodbye",
        "model_id": "b2fe4436-760b-484e-a2d6-9daa0bdfdbea",
        "timezone": "Europe/Berlin",
        "call_id": "wh-1",
        "duration": 113,
        "start_time": "2024-03-28T18:17:46.205134+01:00",
        "transcript": "\nbot: Hi\nhuman: Hello",
        "recording_url": "https://example.com/rec.mp3",
    },
    "executed_actions": {
        "extract": {
            "name": "extract",
            "action_type": "extract_info_action_type",
            "return_value": {"x": 1},
        }
    },
    "analysis": {"persona": True, "call_summary": "ok"},
    "collected_variables": {"agent_1": {"city": {"value": "Berlin", "collected": True}}},
}


def deliver(tenant, payload=PAYLOAD, signature=None, token=None):
    client = APIClient()
    headers = {}
    if signature is not None:
        headers["HTTP_SYNTHFLOW_SIGNATURE"] = signature
    return client.post(
        f"/api/v1/webhooks/synthflow/{token or tenant.webhook_token}",
        json.dumps(payload),
        content_type="application/json",
        **headers,
    )


def test_valid_signature_stores_the_call(tenant):
    response = deliver(tenant, signature=sign_call_id(tenant.webhook_secret, "wh-1"))

    assert response.status_code == 201, response.json()
    call = Call.objects.get(tenant=tenant, call_id="wh-1")
    assert (call.lead_name, call.lead_phone_number) == ("Eddie", "+4915758658647")
    assert call.prompt_variables == {"a": "1"}
    assert call.judge_results == {"persona": True, "call_summary": "ok"}
    assert call.agent.model_id == "b2fe4436-760b-484e-a2d6-9daa0bdfdbea"
    assert list(call.turns.values_list("role", "text")) == [("bot", "Hi"), ("human", "Hello")]
    assert call.actions.get().payload["return_value"] == {"x": 1}
    assert call.variables.get().value == "Berlin"
    assert call.platform == "synthflow"


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU="])
def test_missing_or_wrong_signature_is_401_and_writes_nothing(tenant, signature):
    response = deliver(tenant, signature=signature)

    assert response.status_code == 401
    assert "signature" in response.json()["detail"]
    assert Call.objects.count() == 0


def test_signature_of_another_tenant_is_rejected(tenant, other_tenant):
    response = deliver(tenant, signature=sign_call_id(other_tenant.webhook_secret, "wh-1"))

    assert response.status_code == 401


def test_replay_is_idempotent(tenant):
    signature = sign_call_id(tenant.webhook_secret, "wh-1")
    deliver(tenant, signature=signature)

    response = deliver(tenant, signature=signature)

    assert response.status_code == 200
    assert response.json()["results"] == [{"call_id": "wh-1", "outcome": "unchanged"}]
    assert Call.objects.count() == 1


def test_unknown_token_is_404(tenant):
    response = deliver(tenant, signature="x", token="nope")

    assert response.status_code == 404
    assert Call.objects.count() == 0


def test_signed_but_invalid_payload_is_400(tenant):
    payload = {"call": {"call_id": "wh-2", "status": "exploded"}}

    response = deliver(tenant, payload, signature=sign_call_id(tenant.webhook_secret, "wh-2"))

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"status", "start_time"}
