"""ElevenLabs: post-call webhooks mapped to call documents, and ``ElevenLabs-Signature``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calls.platforms import PayloadInvalid, SignatureInvalid, elevenlabs
from tests.calls.platforms.helpers import at, checked, credentials, delivery, flipped, payload

VECTOR_SECRET = "test_secret"
VECTOR_BODY = (
    b'{"type":"post_call_transcription","event_timestamp":1739537297,'
    b'"data":{"agent_id":"xyz","conversation_id":"abc"}}'
)
VECTOR_HEADER = "t=1739537297,v0=93673b54e757ea560e8b0d787a492fb0f773d6b3644d97dfd972b61bff18d702"
VECTOR_NOW = datetime.fromtimestamp(1739537297, tz=UTC)
CONVERSATION = "conv_1901kaj4pr1penza6bbkscg6hgkc"


def signed(body: bytes = VECTOR_BODY, header: str = VECTOR_HEADER):
    return delivery(body, {"ElevenLabs-Signature": header})


def test_vector_verifies() -> None:
    elevenlabs.verify(signed(), credentials(VECTOR_SECRET), VECTOR_NOW)


def test_one_changed_byte_fails() -> None:
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        elevenlabs.verify(
            signed(body=VECTOR_BODY.replace(b"xyz", b"xyZ")), credentials(VECTOR_SECRET), VECTOR_NOW
        )
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        elevenlabs.verify(
            signed(header=flipped(VECTOR_HEADER)), credentials(VECTOR_SECRET), VECTOR_NOW
        )


@pytest.mark.parametrize(
    ("shift", "words"), [(timedelta(minutes=6), "stale"), (-timedelta(minutes=6), "future")]
)
def test_window_applies_in_both_directions(shift: timedelta, words: str) -> None:
    # ElevenLabs' own SDK accepts any future timestamp; a signed future one could be replayed
    # until it grew old.
    with pytest.raises(SignatureInvalid, match=words):
        elevenlabs.verify(signed(), credentials(VECTOR_SECRET), VECTOR_NOW + shift)


def test_any_of_several_v0_entries_may_match() -> None:
    header = "t=1739537297,v0=" + "0" * 64 + "," + VECTOR_HEADER.split(",")[1]
    elevenlabs.verify(signed(header=header), credentials(VECTOR_SECRET), VECTOR_NOW)


@pytest.mark.parametrize(
    "header",
    [
        "t=1739537297",
        "v0=93673b54e757ea560e8b0d787a492fb0f773d6b3644d97dfd972b61bff18d702",
        "t=1739537297,t=1739537298,v0=93673b54e757ea560e8b0d787a492fb0f773d6b3644d97dfd972b61bff18d702",
        "t=abc,v0=93673b54e757ea560e8b0d787a492fb0f773d6b3644d97dfd972b61bff18d702",
        "t=1739537297;v0=93673b54e757ea560e8b0d787a492fb0f773d6b3644d97dfd972b61bff18d702",
        "garbage",
        "t=1739537297,v0=" + "a" * 5000,
    ],
)
def test_malformed_headers_fail(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        elevenlabs.verify(signed(header=header), credentials(VECTOR_SECRET), VECTOR_NOW)


def test_missing_header_wrong_secret_and_previous_secret() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        elevenlabs.verify(delivery(VECTOR_BODY, {}), credentials(VECTOR_SECRET), VECTOR_NOW)
    with pytest.raises(SignatureInvalid):
        elevenlabs.verify(signed(), credentials("wsec_other"), VECTOR_NOW)
    elevenlabs.verify(signed(), credentials("wsec_new", VECTOR_SECRET), VECTOR_NOW)


def test_a_fresh_signature_of_a_real_payload_verifies() -> None:
    body = b'{"type":"post_call_audio"}'
    digest = hmac.new(b"wsec", b"1739537300." + body, hashlib.sha256).hexdigest()
    elevenlabs.verify(
        delivery(body, {"ElevenLabs-Signature": f"t=1739537300,v0={digest}"}),
        credentials("wsec"),
        VECTOR_NOW,
    )


# Mapping ----------------------------------------------------------------------------------------


def test_post_call_transcription_maps_to_the_finished_call() -> None:
    event = elevenlabs.parse_payload(payload("elevenlabs-post_call_transcription"))
    document = checked(event, "elevenlabs")
    assert event.idempotency_key == f"{CONVERSATION}:post_call_transcription"
    assert document["status"] == "completed"
    # Epoch seconds; end = start + call_duration_secs.
    assert at(document["start_time"]) == datetime.fromtimestamp(1739537275, tz=UTC)
    assert at(document["end_time"]) == datetime.fromtimestamp(1739537275 + 22, tz=UTC)
    assert document["duration"] == 22
    assert document["agent"]["model_id"] == "agent_5501k9czkv3qepy815bm59nt04qk"
    assert document["type_of_call"] == "inbound"
    assert document["phone_number_from"] == "+12192002824"
    assert document["agent_phone_number"] == "+12196541187"

    turns = document["transcript"]
    assert [t["role"] for t in turns] == ["bot", "human", "tool", "bot"]
    assert [t["start_ms"] for t in turns] == [0, 2000, 5000, 6000]
    [action] = document["executed_actions"]
    assert action["name"] == "check_availability"
    assert action["success"] is True
    assert action["latency_ms"] == 410

    # elapsed_time seconds -> ms.
    samples = {(s["provider_type"], s["latency_ms"]) for s in document["latencies"]}
    assert samples == {
        ("stt", 25.0),
        ("llm", round(0.3704247010173276 * 1000, 3)),
        ("tts", round(0.3959559530012484 * 1000, 3)),
    }
    # cost (296) is credits, never converted; cost_fiat is USD.
    assert Decimal(document["cost_usd"]) == Decimal("0.0891")
    # LLM price (USD), and the platform price as the rest of the fiat total.
    assert document["cost_breakdown"] == {"llm": "0.009988", "platform": "0.079112"}
    assert document["platform_end_reason"] == "Call ended by remote party"
    assert document["end_call_reason"] == "human_ended_call"
    assert document["success"] is True
    assert document["collected_variables"] == {
        "agent_5501k9czkv3qepy815bm59nt04qk": {"appointment_time": "2025-02-17T14:30"}
    }


def test_without_cost_fiat_there_is_no_cost() -> None:
    message = payload("elevenlabs-post_call_transcription")
    del message["data"]["metadata"]["cost_fiat"]
    document = checked(elevenlabs.parse_payload(message), "elevenlabs")
    assert "cost_usd" not in document and "cost_breakdown" not in document


def test_platform_price_when_sent() -> None:
    message = payload("elevenlabs-post_call_transcription")
    message["data"]["metadata"]["charging"]["platform_price"] = 0.0791
    document = checked(elevenlabs.parse_payload(message), "elevenlabs")
    assert document["cost_breakdown"] == {"llm": "0.009988", "platform": "0.0791"}


def test_unknown_termination_reason_is_kept_verbatim_only() -> None:
    message = payload("elevenlabs-post_call_transcription")
    message["data"]["metadata"]["termination_reason"] = "Something new"
    document = checked(elevenlabs.parse_payload(message), "elevenlabs")
    assert document["platform_end_reason"] == "Something new"
    assert "end_call_reason" not in document


def test_metrics_directly_under_turn_metrics_are_read_too() -> None:
    message = payload("elevenlabs-post_call_transcription")
    turn = message["data"]["transcript"][3]
    turn["conversation_turn_metrics"] = turn["conversation_turn_metrics"]["metrics"]
    document = checked(elevenlabs.parse_payload(message), "elevenlabs")
    assert len(document["latencies"]) == 3


def test_an_error_makes_a_failed_call() -> None:
    message = payload("elevenlabs-post_call_transcription")
    message["data"]["metadata"]["error"] = {"code": 1011, "reason": "LLM unavailable"}
    document = checked(elevenlabs.parse_payload(message), "elevenlabs")
    assert document["status"] == "failed"
    assert document["error_message"] == "LLM unavailable"


def test_call_initiation_failure_is_a_failed_call() -> None:
    event = elevenlabs.parse_payload(
        {
            "type": "call_initiation_failure",
            "event_timestamp": 1739537297,
            "data": {"agent_id": "agent_1", "conversation_id": "conv_2", "failure_reason": "busy"},
        }
    )
    document = checked(event, "elevenlabs")
    assert document["status"] == "failed"
    assert document["platform_end_reason"] == "busy"
    assert event.start_time_estimated


def test_post_call_audio_is_ignored_and_its_audio_not_stored() -> None:
    event = elevenlabs.parse_payload(payload("elevenlabs-post_call_audio"))
    assert event.document is None
    assert event.call_id == CONVERSATION
    assert event.payload["data"]["full_audio"] is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("data"), "data"),
        (lambda m: m["data"].pop("conversation_id"), "data.conversation_id"),
        (
            lambda m: m["data"]["metadata"].update(start_time_unix_secs="x"),
            "data.metadata.start_time_unix_secs",
        ),
        (
            lambda m: m["data"]["metadata"].update(call_duration_secs=-3),
            "data.metadata.call_duration_secs",
        ),
        (lambda m: m["data"]["metadata"].update(cost_fiat=[1]), "data.metadata.cost_fiat"),
        (lambda m: m["data"]["transcript"][0].update(message=5), "data.transcript[0].message"),
        (
            lambda m: m["data"]["transcript"][1].update(time_in_call_secs="2"),
            "data.transcript[1].time_in_call_secs",
        ),
    ],
)
def test_malformed_payload_names_the_field(mutate, field: str) -> None:
    message = payload("elevenlabs-post_call_transcription")
    mutate(message)
    with pytest.raises(PayloadInvalid) as caught:
        elevenlabs.parse_payload(message)
    assert caught.value.field == field


@pytest.mark.parametrize("stamp", [1739537297, "1739537297"])
def test_event_timestamp_as_number_or_string(stamp) -> None:
    message = payload("elevenlabs-post_call_transcription")
    message["event_timestamp"] = stamp
    del message["data"]["metadata"]["start_time_unix_secs"]
    event = elevenlabs.parse_payload(message)
    # Sent once the call is over: the start is the event time less the call's duration.
    assert at(checked(event, "elevenlabs")["start_time"]) == datetime.fromtimestamp(
        1739537297 - 22, tz=UTC
    )
    assert event.start_time_estimated


@pytest.mark.parametrize("stamp", ["soon", -1, 1.5e300, None])
def test_malformed_event_timestamp_names_the_field(stamp) -> None:
    message = payload("elevenlabs-post_call_transcription")
    message["event_timestamp"] = stamp
    del message["data"]["metadata"]["start_time_unix_secs"]
    with pytest.raises(PayloadInvalid) as caught:
        elevenlabs.parse_payload(message)
    assert caught.value.field == "event_timestamp"
