"""Vapi: server messages mapped to call documents, and its HMAC and bearer credentials."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calls.platforms import PayloadInvalid, SignatureInvalid, vapi
from calls.platforms.common import REDACTED
from tests.calls.platforms.helpers import at, checked, credentials, delivery, flipped, payload

# Vapi HMAC vector (default payload format ``{timestamp}.{body}``, sha256, hex).
VECTOR_SECRET = "test_vapi_secret"
VECTOR_BODY = b'{"message":{"type":"status-update","status":"in-progress"}}'
VECTOR_TIMESTAMP = "1739537297000"
VECTOR_SIGNATURE = "59c4ab713c336ed4f2b200e178dae825dc166c5e1f5800476972b6f9845549bc"
VECTOR_NOW = datetime.fromtimestamp(1739537297, tz=UTC)
CALL_ID = "0d1f6a7e-5a0b-4b8e-9b1e-3c2d1e0f9a11"


def signed(
    body: bytes = VECTOR_BODY, signature: str = VECTOR_SIGNATURE, stamp: str = VECTOR_TIMESTAMP
):
    return delivery(body, {"x-signature": signature, "x-timestamp": stamp})


# Signatures -------------------------------------------------------------------------------------


def test_hmac_vector_verifies() -> None:
    vapi.verify(signed(), credentials(VECTOR_SECRET), VECTOR_NOW)


def test_hmac_accepts_a_timestamp_in_seconds() -> None:
    stamp = "1739537297"
    signature = hmac.new(
        VECTOR_SECRET.encode(), f"{stamp}.".encode() + VECTOR_BODY, hashlib.sha256
    ).hexdigest()
    vapi.verify(signed(signature=signature, stamp=stamp), credentials(VECTOR_SECRET), VECTOR_NOW)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: signed(body=d.replace(b"in-progress", b"in-progresS")),
        lambda d: signed(signature=flipped(VECTOR_SIGNATURE)),
        lambda d: signed(stamp="1739537297001"),
    ],
    ids=["body", "signature", "timestamp"],
)
def test_hmac_one_changed_byte_fails(change) -> None:
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        vapi.verify(change(VECTOR_BODY), credentials(VECTOR_SECRET), VECTOR_NOW)


@pytest.mark.parametrize(
    ("shift", "words"), [(timedelta(minutes=6), "stale"), (-timedelta(minutes=6), "future")]
)
def test_hmac_timestamp_outside_the_window_fails(shift: timedelta, words: str) -> None:
    with pytest.raises(SignatureInvalid, match=words):
        vapi.verify(signed(), credentials(VECTOR_SECRET), VECTOR_NOW + shift)


def test_hmac_window_is_configurable() -> None:
    wide = credentials(VECTOR_SECRET, timestamp_tolerance=timedelta(minutes=10))
    vapi.verify(signed(), wide, VECTOR_NOW + timedelta(minutes=6))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-signature": VECTOR_SIGNATURE},
        {"x-timestamp": VECTOR_TIMESTAMP},
        {"x-signature": VECTOR_SIGNATURE, "x-timestamp": "17395x"},
        {"x-signature": VECTOR_SIGNATURE, "x-timestamp": "9" * 40},
        {"x-signature": "", "x-timestamp": VECTOR_TIMESTAMP},
    ],
)
def test_hmac_missing_or_malformed_headers_fail(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        vapi.verify(delivery(VECTOR_BODY, headers), credentials(VECTOR_SECRET), VECTOR_NOW)


def test_hmac_wrong_secret_fails_and_a_previous_secret_verifies() -> None:
    with pytest.raises(SignatureInvalid):
        vapi.verify(signed(), credentials("another-secret"), VECTOR_NOW)
    vapi.verify(signed(), credentials("new-secret", VECTOR_SECRET), VECTOR_NOW)


def test_hmac_signature_header_can_be_renamed() -> None:
    renamed = delivery(
        VECTOR_BODY, {"x-callscope-signature": VECTOR_SIGNATURE, "x-timestamp": VECTOR_TIMESTAMP}
    )
    vapi.verify(
        renamed, credentials(VECTOR_SECRET, header_name="x-callscope-signature"), VECTOR_NOW
    )
    with pytest.raises(SignatureInvalid, match="missing"):
        vapi.verify(renamed, credentials(VECTOR_SECRET), VECTOR_NOW)


def test_bearer_credential() -> None:
    bearer = credentials("old-token", "s3cret-token", scheme="bearer")
    vapi.verify(delivery(b"{}", {"Authorization": "Bearer s3cret-token"}), bearer, VECTOR_NOW)
    vapi.verify(delivery(b"{}", {"Authorization": "bearer old-token"}), bearer, VECTOR_NOW)
    for value in ("Bearer s3cret-tokeN", "Basic s3cret-token", "s3cret-token", "Bearer "):
        with pytest.raises(SignatureInvalid):
            vapi.verify(delivery(b"{}", {"Authorization": value}), bearer, VECTOR_NOW)
    with pytest.raises(SignatureInvalid, match="missing"):
        vapi.verify(delivery(b"{}", {}), bearer, VECTOR_NOW)


def test_legacy_secret_header_credential() -> None:
    legacy = credentials("s3cret", scheme="bearer", header_name="X-Vapi-Secret")
    vapi.verify(delivery(b"{}", {"X-Vapi-Secret": "s3cret"}), legacy, VECTOR_NOW)
    with pytest.raises(SignatureInvalid):
        vapi.verify(delivery(b"{}", {"X-Vapi-Secret": "s3creT"}), legacy, VECTOR_NOW)


# Mapping ----------------------------------------------------------------------------------------


def test_end_of_call_report_maps_to_the_finished_call() -> None:
    event = vapi.parse_payload(payload("vapi-end-of-call-report"))
    document = checked(event, "vapi")

    assert event.idempotency_key == f"{CALL_ID}:end-of-call-report"
    assert not event.start_time_estimated
    assert document["status"] == "completed"
    assert at(document["start_time"]) == datetime(2026, 8, 20, 17, 8, 1, 512000, tzinfo=UTC)
    assert at(document["end_time"]) == datetime(2026, 8, 20, 17, 9, 20, 44000, tzinfo=UTC)
    # No duration field: endedAt - startedAt = 78.532 s.
    assert document["duration"] == 79
    assert document["agent"] == {
        "model_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
        "name": "Riley",
    }
    assert document["type_of_call"] == "inbound"
    assert document["phone_number_from"] == "+14155550123"
    assert document["phone_number_to"] == "+14155550100"

    turns = document["transcript"]
    assert [t["role"] for t in turns] == ["system", "bot", "human", "tool", "tool", "bot", "human"]
    # secondsFromStart in ms; a turn's end from its epoch-ms time and endTime (3.3 s later).
    assert (turns[1]["start_ms"], turns[1]["end_ms"]) == (620, 3920)
    assert turns[6]["start_ms"] == 14000
    assert turns[3]["text"].startswith("check_availability(")

    [action] = document["executed_actions"]
    assert action["name"] == "check_availability"
    assert action["result"] == '{"slots":["09:00","14:30"]}'
    assert action["latency_ms"] == 1787245690412 - 1787245689662

    # Two turns x (stt, llm, tts), providers named by the report's costs.
    samples = {
        (s["provider_type"], s["provider_name"], s["latency_ms"]) for s in document["latencies"]
    }
    assert len(document["latencies"]) == 6
    assert {("stt", "deepgram", 118), ("llm", "openai", 655), ("tts", "11labs", 240)} <= samples

    assert Decimal(document["cost_usd"]) == Decimal("0.1713")
    assert {k: Decimal(v) for k, v in document["cost_breakdown"].items()} == {
        "telephony": Decimal("0.0114"),
        "stt": Decimal("0.0131"),
        "llm": Decimal("0.0529"),
        "tts": Decimal("0.024"),
        "platform": Decimal("0.0654"),
        # The two analysis costs.
        "other": Decimal("0.0045"),
    }
    assert sum(Decimal(v) for v in document["cost_breakdown"].values()) == Decimal("0.1713")

    assert document["platform_end_reason"] == "customer-ended-call"
    assert document["end_call_reason"] == "human_ended_call"
    assert document["success"] is True
    variables = document["collected_variables"]["5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"]
    assert variables["appointment_time"] == "14:30"
    assert variables["Satisfaction Score"] == {"score": 8, "feedback": "Quick booking"}
    assert document["recording_url"].endswith("-mono.wav")


def test_status_update_carries_only_the_status_and_the_call_facts() -> None:
    event = vapi.parse_payload(payload("vapi-status-update"))
    document = checked(event, "vapi")
    assert event.idempotency_key == f"{CALL_ID}:status-update:in-progress"
    assert document["status"] == "in-progress"
    # Nothing the end-of-call report owns: a late update must not overwrite it.
    report = checked(vapi.parse_payload(payload("vapi-end-of-call-report")), "vapi")
    assert set(document) == {
        "call_id", "platform", "status", "start_time", "agent", "type_of_call", "channel",
        "lead_phone_number", "agent_phone_number", "phone_number_from", "phone_number_to",
    }  # fmt: skip
    for key in set(document) - {"status"}:
        assert document[key] == report[key], key


def test_status_update_ended_agrees_with_the_report() -> None:
    ended = checked(vapi.parse_payload(payload("vapi-status-update-ended")), "vapi")
    report = checked(vapi.parse_payload(payload("vapi-end-of-call-report")), "vapi")
    for key in ("status", "end_time", "duration", "platform_end_reason", "end_call_reason"):
        assert ended[key] == report[key], key
    assert "transcript" not in ended and "cost_usd" not in ended


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", "queue"),
        ("ringing", "ringing"),
        ("forwarding", "in-progress"),
        ("scheduled", "pending"),
    ],
)
def test_live_statuses(status: str, expected: str) -> None:
    message = payload("vapi-status-update")
    message["message"]["status"] = status
    del message["message"]["call"]["startedAt"]
    event = vapi.parse_payload(message)
    document = checked(event, "vapi")
    assert document["status"] == expected
    # Not started yet: the call's creation stands in for the start, and says so.
    assert event.start_time_estimated
    assert at(document["start_time"]) == at("2026-08-20T17:07:59.980Z")


@pytest.mark.parametrize(
    ("reason", "status", "normalised"),
    [
        ("customer-busy", "busy", None),
        ("customer-did-not-answer", "no-answer", None),
        ("assistant-said-end-call-phrase", "completed", "agent_goodbye"),
        ("exceeded-max-duration", "completed", "max_duration"),
        ("pipeline-error-openai-llm-failed", "failed", "error"),
        ("call.in-progress.error-vapifault-openai-llm-failed", "failed", "error"),
        ("assistant-forwarded-call", "completed", None),
        ("some-reason-vapi-adds-later", "completed", None),
    ],
)
def test_end_reasons(reason: str, status: str, normalised: str | None) -> None:
    message = payload("vapi-end-of-call-report")
    message["message"]["endedReason"] = reason
    document = checked(vapi.parse_payload(message), "vapi")
    assert document["status"] == status
    assert document["platform_end_reason"] == reason
    assert document.get("end_call_reason") == normalised


def test_embedded_credentials_are_redacted() -> None:
    message = payload("vapi-end-of-call-report")
    message["message"]["phoneNumber"]["twilioAuthToken"] = "tok-123"
    message["message"]["phoneNumber"]["twilioApiSecret"] = "sec-456"
    message["message"]["assistant"]["server"] = {"url": "https://x", "secret": "s-789"}
    event = vapi.parse_payload(message)
    stored = str(event.payload)
    assert "tok-123" not in stored and "sec-456" not in stored and "s-789" not in stored
    assert event.payload["message"]["phoneNumber"]["twilioAuthToken"] == REDACTED
    # The mapping still works from the original, which is left as it was.
    assert message["message"]["phoneNumber"]["twilioAuthToken"] == "tok-123"
    assert event.payload["message"]["call"]["id"] == CALL_ID


@pytest.mark.parametrize(
    "event_type", ["conversation-update", "speech-update", "transcript", "hang"]
)
def test_unused_messages_give_no_document(event_type: str) -> None:
    message = payload("vapi-status-update")
    message["message"]["type"] = event_type
    event = vapi.parse_payload(message)
    assert event.document is None
    assert event.call_id == CALL_ID


def test_unused_message_without_a_call_gives_no_document() -> None:
    event = vapi.parse_payload({"message": {"type": "chat.created", "timestamp": 1}})
    assert event.document is None and event.call_id == ""


def test_status_values_of_an_api_object_give_no_document() -> None:
    message = payload("vapi-status-update")
    message["message"]["status"] = "deletion-failed"
    assert vapi.parse_payload(message).document is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("message"), "message"),
        (lambda m: m["message"].pop("call"), "message.call"),
        (lambda m: m["message"]["call"].pop("id"), "message.call.id"),
        (lambda m: m["message"]["call"].update(id=7), "message.call.id"),
        (lambda m: m["message"]["call"].update(id="x" * 101), "message.call.id"),
        (lambda m: m["message"].update(startedAt="yesterday"), "message.startedAt"),
        (lambda m: m["message"].update(startedAt="0001-01-01T00:00:00Z"), "message.startedAt"),
        (lambda m: m["message"].update(cost="0.17"), "message.cost"),
        (lambda m: m["message"].update(cost=-1), "message.cost"),
        (lambda m: m["message"]["artifact"].update(messages={}), "message.artifact.messages"),
        (lambda m: m["message"]["artifact"]["messages"].append(3), "message.artifact.messages[7]"),
        (lambda m: m["message"].update(endedReason="x" * 256), "message.endedReason"),
    ],
)
def test_malformed_report_names_the_field(mutate, field: str) -> None:
    message = payload("vapi-end-of-call-report")
    mutate(message)
    with pytest.raises(PayloadInvalid) as caught:
        vapi.parse_payload(message)
    assert caught.value.field == field


def test_a_call_that_never_started_has_no_duration() -> None:
    message = payload("vapi-status-update-ended")
    message["message"]["endedReason"] = "customer-did-not-answer"
    del message["message"]["call"]["startedAt"]
    event = vapi.parse_payload(message)
    document = checked(event, "vapi")
    assert event.start_time_estimated
    assert document["status"] == "no-answer"
    assert "duration" not in document
    assert "end_call_reason" not in document
