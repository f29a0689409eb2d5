"""Lines of an export file (``import_calls --format …``): a webhook payload, or the call object
the platform's API returns, map to the same document."""

from __future__ import annotations

import pytest

from calls.platforms import PLATFORMS
from tests.calls.platforms.helpers import checked, payload


def test_vapi_call_object_maps_like_its_end_of_call_report() -> None:
    report = payload("vapi-end-of-call-report")
    # GET /call returns the call with the report's fields on it.
    call = report["message"]["call"]
    for key in ("artifact", "analysis", "costs"):
        call[key] = report["message"][key]
    event = PLATFORMS["vapi"].parse_payload(call)
    expected = PLATFORMS["vapi"].parse_payload(payload("vapi-end-of-call-report"))
    assert event.event_type == "end-of-call-report"
    assert event.idempotency_key == expected.idempotency_key
    document, wanted = checked(event, "vapi"), checked(expected, "vapi")
    # The call object names no assistant or phone number object: those stay out.
    for key in set(wanted) - {"agent", "agent_phone_number", "phone_number_to"}:
        assert document[key] == wanted[key], key
    # Stored as it was in the file.
    assert event.payload == call


def test_vapi_call_object_still_live_is_a_status_update() -> None:
    call = payload("vapi-status-update")["message"]["call"]
    event = PLATFORMS["vapi"].parse_payload(call)
    assert event.event_type == "status-update"
    assert checked(event, "vapi")["status"] == "in-progress"


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("retell-call_analyzed", "call_analyzed"),
        ("retell-call_ended", "call_ended"),
        ("retell-call_started", "call_started"),
    ],
)
def test_retell_call_object_maps_like_its_webhook(name: str, event_type: str) -> None:
    call = payload(name)["call"]
    event = PLATFORMS["retell"].parse_payload(call)
    expected = PLATFORMS["retell"].parse_payload(payload(name))
    assert event.event_type == event_type
    assert event.idempotency_key == expected.idempotency_key
    assert checked(event, "retell") == checked(expected, "retell")


def test_elevenlabs_conversation_maps_like_its_webhook() -> None:
    conversation = payload("elevenlabs-post_call_transcription")["data"]
    event = PLATFORMS["elevenlabs"].parse_payload(conversation)
    expected = PLATFORMS["elevenlabs"].parse_payload(payload("elevenlabs-post_call_transcription"))
    assert event.idempotency_key == expected.idempotency_key
    assert checked(event, "elevenlabs") == checked(expected, "elevenlabs")


def test_bland_call_object_is_its_webhook() -> None:
    event = PLATFORMS["bland"].parse_payload(payload("bland-post_call"))
    assert checked(event, "bland")["call_id"] == "d9cce3f3-23cf-4fa7-b62c-8be8119b8715"
