"""Retell: webhook events mapped to call documents, and ``x-retell-signature``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calls.platforms import PayloadInvalid, SignatureInvalid, retell
from tests.calls.platforms.helpers import at, checked, credentials, delivery, flipped, payload

# Retell SDK's own test vector.
VECTOR_KEY = "test-api-key"
VECTOR_BODY = b'{"event":"call_ended"}'
VECTOR_HEADER = "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e"
VECTOR_NOW = datetime.fromtimestamp(1_700_000_000, tz=UTC)
CALL_ID = "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6"


def signed(body: bytes = VECTOR_BODY, header: str = VECTOR_HEADER):
    return delivery(body, {"X-Retell-Signature": header})


def test_sdk_vector_verifies() -> None:
    retell.verify(signed(), credentials(VECTOR_KEY), VECTOR_NOW)


def test_one_changed_byte_fails() -> None:
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        retell.verify(signed(body=b'{"event":"call_endeD"}'), credentials(VECTOR_KEY), VECTOR_NOW)
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        retell.verify(signed(header=flipped(VECTOR_HEADER)), credentials(VECTOR_KEY), VECTOR_NOW)
    # The timestamp is signed too.
    moved = VECTOR_HEADER.replace("v=1700000000000", "v=1700000000001")
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        retell.verify(signed(header=moved), credentials(VECTOR_KEY), VECTOR_NOW)


@pytest.mark.parametrize(
    ("shift", "words"),
    [(timedelta(minutes=5, seconds=1), "stale"), (-timedelta(minutes=5, seconds=1), "future")],
)
def test_timestamp_outside_five_minutes_fails(shift: timedelta, words: str) -> None:
    with pytest.raises(SignatureInvalid, match=words):
        retell.verify(signed(), credentials(VECTOR_KEY), VECTOR_NOW + shift)
    retell.verify(signed(), credentials(VECTOR_KEY), VECTOR_NOW + shift * 0.99)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
        "v=1700000000000",
        "v=1700000000000,d=07024CABE7DD8F6D1C6E4A8324CA92C812E6AD4A7EE506C04F7E462E3321823E",
        "v=1700000000000,d=07024cab",
        VECTOR_HEADER + ",d=00",
        "v=-1,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
        "v=" + "9" * 30 + ",d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
    ],
)
def test_malformed_headers_fail(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        retell.verify(signed(header=header), credentials(VECTOR_KEY), VECTOR_NOW)


def test_missing_header_fails() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        retell.verify(delivery(VECTOR_BODY, {}), credentials(VECTOR_KEY), VECTOR_NOW)


def test_wrong_key_fails_and_a_previous_key_verifies() -> None:
    with pytest.raises(SignatureInvalid):
        retell.verify(signed(), credentials("other-key"), VECTOR_NOW)
    retell.verify(signed(), credentials("rotated-key", VECTOR_KEY), VECTOR_NOW)


# Mapping ----------------------------------------------------------------------------------------


def test_call_started_is_live() -> None:
    event = retell.parse_payload(payload("retell-call_started"))
    document = checked(event, "retell")
    assert event.idempotency_key == f"{CALL_ID}:call_started"
    assert document["status"] == "in-progress"
    assert at(document["start_time"]) == datetime.fromtimestamp(1703302407.333, tz=UTC)
    assert document["agent"] == {"model_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD", "name": "My Agent"}
    assert document["prompt_variables"] == {"customer_name": "John Doe"}
    assert not {"end_time", "transcript", "cost_usd", "collected_variables"} & set(document)


def test_call_ended_maps_the_call_without_its_analysis() -> None:
    event = retell.parse_payload(payload("retell-call_ended"))
    document = checked(event, "retell")
    assert event.idempotency_key == f"{CALL_ID}:call_ended"
    assert document["status"] == "completed"
    assert at(document["end_time"]) == datetime.fromtimestamp(1703302428.855, tz=UTC)
    # duration_ms 21522 -> seconds.
    assert document["duration"] == 22
    assert document["type_of_call"] == "inbound"
    assert document["phone_number_from"] == "+12137771234"
    assert document["agent_phone_number"] == "+12137771235"

    turns = document["transcript"]
    assert [t["role"] for t in turns] == ["bot", "human", "tool", "tool", "bot"]
    # A turn's first word start and last word end, seconds -> ms.
    assert (turns[0]["start_ms"], turns[0]["end_ms"]) == (700, 2300)
    assert (turns[1]["start_ms"], turns[1]["end_ms"]) == (3100, 4800)
    [action] = document["executed_actions"]
    assert action["name"] == "check_availability"
    assert action["success"] is True
    assert action["arguments"] == '{"date":"2024-01-02"}'

    # Every value of asr, llm and tts (10 each); e2e is no provider's.
    samples = document["latencies"]
    assert len(samples) == 30
    assert [s["latency_ms"] for s in samples if s["provider_type"] == "llm"][:3] == [210, 260, 300]
    assert {s["provider_type"] for s in samples} == {"stt", "llm", "tts"}

    # Cents -> USD.
    assert Decimal(document["cost_usd"]) == Decimal("6.816") / 100
    assert {k: Decimal(v) for k, v in document["cost_breakdown"].items()} == {
        "platform": Decimal("0.025116"),
        "tts": Decimal("0.025116"),
        "llm": Decimal("0.017928"),
    }
    assert document["platform_end_reason"] == "user_hangup"
    assert document["end_call_reason"] == "human_ended_call"
    assert not {"sentiment", "success", "collected_variables", "judge_results"} & set(document)


def test_call_analyzed_adds_the_analysis() -> None:
    ended = checked(retell.parse_payload(payload("retell-call_ended")), "retell")
    document = checked(retell.parse_payload(payload("retell-call_analyzed")), "retell")
    assert document["sentiment"] == "positive"
    assert document["success"] is True
    variables = document["collected_variables"]["oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD"]
    assert variables == {
        "last_node_name": "Test node",
        "appointment_time": "14:30",
        "appointment_booked": True,
    }
    # Whatever both events carry, they carry alike: either order gives one call.
    for key in set(ended):
        assert ended[key] == document[key], key


@pytest.mark.parametrize(
    ("reason", "status", "normalised"),
    [
        ("dial_busy", "busy", None),
        ("dial_no_answer", "no-answer", None),
        ("dial_failed", "failed", None),
        ("agent_hangup", "completed", "agent_ended_call"),
        ("voicemail_reached", "completed", "voicemail"),
        ("inactivity", "completed", "idle_time_exceeded"),
        ("error_llm_websocket_lost_connection", "failed", "error"),
        ("call_transfer", "completed", None),
    ],
)
def test_disconnection_reasons(reason: str, status: str, normalised: str | None) -> None:
    message = payload("retell-call_ended")
    message["call"]["disconnection_reason"] = reason
    document = checked(retell.parse_payload(message), "retell")
    assert document["status"] == status
    assert document["platform_end_reason"] == reason
    assert document.get("end_call_reason") == normalised
    assert document.get("handoff", False) is (reason == "call_transfer")


def test_a_call_that_never_connected_has_its_end_as_start() -> None:
    message = payload("retell-call_ended")
    message["call"].pop("start_timestamp")
    message["call"]["disconnection_reason"] = "dial_no_answer"
    event = retell.parse_payload(message)
    document = checked(event, "retell")
    assert event.start_time_estimated
    assert document["start_time"] == document["end_time"]


@pytest.mark.parametrize("event_type", ["transcript_updated", "transfer_started", "chat_ended"])
def test_unused_events_give_no_document(event_type: str) -> None:
    message = payload("retell-call_ended")
    message["event"] = event_type
    event = retell.parse_payload(message)
    assert event.document is None
    assert event.idempotency_key == f"{CALL_ID}:{event_type}"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("event"), "event"),
        (lambda m: m.pop("call"), "call"),
        (lambda m: m.update(call=[]), "call"),
        (lambda m: m["call"].pop("call_id"), "call.call_id"),
        (lambda m: m["call"].update(call_id=12), "call.call_id"),
        (lambda m: m["call"].update(start_timestamp="1703302407333"), "call.start_timestamp"),
        (lambda m: m["call"].update(start_timestamp=-5), "call.start_timestamp"),
        (lambda m: m["call"].update(end_timestamp=10**20), "call.end_timestamp"),
        (
            lambda m: m["call"]["call_cost"].update(combined_cost=True),
            "call.call_cost.combined_cost",
        ),
        (
            lambda m: m["call"].update(transcript_with_tool_calls="hi"),
            "call.transcript_with_tool_calls",
        ),
        (
            lambda m: m["call"]["call_analysis"].update(call_successful="yes"),
            "call.call_analysis.call_successful",
        ),
    ],
)
def test_malformed_payload_names_the_field(mutate, field: str) -> None:
    message = payload("retell-call_analyzed")
    mutate(message)
    with pytest.raises(PayloadInvalid) as caught:
        retell.parse_payload(message)
    assert caught.value.field == field
