"""Bland: the post-call webhook mapped to a call document, and ``X-Webhook-Signature``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from calls.platforms import PayloadInvalid, SignatureInvalid, bland
from tests.calls.platforms.helpers import at, checked, credentials, delivery, flipped, payload

VECTOR_SECRET = "test_bland_secret"
VECTOR_BODY = b'{"call_id":"12345678-1234-1234-1234-123456789012","status":"completed"}'
VECTOR_SIGNATURE = "4c2cdcc09cf181e9911bb7c64f697e77f1232f4128c4f5251e91e507bc54002e"
NOW = datetime(2026, 12, 3, tzinfo=UTC)
CALL_ID = "d9cce3f3-23cf-4fa7-b62c-8be8119b8715"


def signed(body: bytes = VECTOR_BODY, signature: str = VECTOR_SIGNATURE):
    return delivery(body, {"X-Webhook-Signature": signature})


def test_vector_verifies_in_either_case() -> None:
    bland.verify(signed(), credentials(VECTOR_SECRET), NOW)
    bland.verify(signed(signature=VECTOR_SIGNATURE.upper()), credentials(VECTOR_SECRET), NOW)


def test_one_changed_byte_fails() -> None:
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        bland.verify(signed(body=VECTOR_BODY + b" "), credentials(VECTOR_SECRET), NOW)
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        bland.verify(signed(signature=flipped(VECTOR_SIGNATURE)), credentials(VECTOR_SECRET), NOW)


@pytest.mark.parametrize(
    "headers", [{}, {"X-Webhook-Signature": " "}, {"X-Webhook-Signature": "z" * 3000}]
)
def test_missing_or_malformed_header_fails(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        bland.verify(delivery(VECTOR_BODY, headers), credentials(VECTOR_SECRET), NOW)


def test_wrong_secret_fails_and_a_previous_secret_verifies() -> None:
    with pytest.raises(SignatureInvalid):
        bland.verify(signed(), credentials("other"), NOW)
    bland.verify(signed(), credentials("rotated", VECTOR_SECRET), NOW)


def test_no_secret_verifies_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        bland.verify(signed(), credentials(), NOW)
    with pytest.raises(SignatureInvalid):
        bland.verify(signed(), credentials(""), NOW)


def test_post_call_maps_to_the_finished_call() -> None:
    event = bland.parse_payload(payload("bland-post_call"))
    document = checked(event, "bland")
    assert event.idempotency_key == CALL_ID
    assert document["status"] == "completed"
    assert at(document["start_time"]) == datetime(2024, 4, 27, 23, 51, 25, tzinfo=UTC)
    # corrected_duration is a string of seconds; end = start + duration.
    assert document["duration"] == 45
    assert at(document["end_time"]) == datetime(2024, 4, 27, 23, 52, 10, tzinfo=UTC)
    assert document["type_of_call"] == "outbound"
    assert document["phone_number_from"] == "+17163511654"
    assert document["lead_phone_number"] == "+12223334444"
    turns = document["transcript"]
    assert [t["role"] for t in turns] == ["human", "bot", "human"]
    # Wall-clock row times minus the start.
    assert [t["start_ms"] for t in turns] == [1287, 3101, 8540]
    assert Decimal(document["cost_usd"]) == Decimal("0.068")
    assert "cost_breakdown" not in document and "latencies" not in document
    assert document["platform_end_reason"] == "ASSISTANT"
    assert document["end_call_reason"] == "agent_ended_call"


def test_call_length_in_minutes_when_no_corrected_duration() -> None:
    message = payload("bland-post_call")
    del message["corrected_duration"]
    document = checked(bland.parse_payload(message), "bland")
    assert document["duration"] == 45  # 0.75 min


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"queue_status": "call_error", "error_message": "carrier rejected"}, "failed", "error"),
        ({"answered_by": "voicemail"}, "completed", "voicemail"),
        ({"answered_by": "no-answer"}, "no-answer", None),
        ({"call_ended_by": "USER"}, "completed", "human_ended_call"),
    ],
)
def test_statuses_and_end_reasons(changes: dict, status: str, reason: str | None) -> None:
    message = payload("bland-post_call")
    message.update(changes)
    document = checked(bland.parse_payload(message), "bland")
    assert document["status"] == status
    assert document.get("end_call_reason") == reason


def test_never_connected_call_starts_when_created() -> None:
    message = payload("bland-post_call")
    message["started_at"] = None
    event = bland.parse_payload(message)
    assert event.start_time_estimated
    assert at(checked(event, "bland")["start_time"]) == at("2024-04-27T23:51:18.025251+00:00")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("call_id"), "call_id"),
        (lambda m: m.update(call_id=12345), "call_id"),
        (lambda m: m.update(corrected_duration="4.5"), "corrected_duration"),
        (lambda m: m.update(corrected_duration="\u0664\u0665"), "corrected_duration"),
        (lambda m: m.update(price="0.068"), "price"),
        (lambda m: m.update(inbound="no"), "inbound"),
        (lambda m: m.update(started_at="27/04/2024"), "started_at"),
        (lambda m: m["transcripts"].append("hi"), "transcripts[3]"),
        (lambda m: m.update(started_at=None, created_at=None), "created_at"),
    ],
)
def test_malformed_payload_names_the_field(mutate, field: str) -> None:
    message = payload("bland-post_call")
    mutate(message)
    with pytest.raises(PayloadInvalid) as caught:
        bland.parse_payload(message)
    assert caught.value.field == field
