"""Hostile payloads from a sender that holds the secret: every platform refuses them with
``PayloadInvalid`` naming the field, and none crashes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from calls.platforms import PLATFORMS, Delivery, PayloadInvalid
from calls.platforms.common import REDACTED
from tests.calls.platforms.helpers import payload

# One reference payload per platform, and where its call id lives.
REFERENCE = {
    "vapi": ("vapi-end-of-call-report", ("message", "call", "id")),
    "retell": ("retell-call_analyzed", ("call", "call_id")),
    "elevenlabs": ("elevenlabs-post_call_transcription", ("data", "conversation_id")),
    "bland": ("bland-post_call", ("call_id",)),
    "twilio": ("twilio-status_callback-completed", ("CallSid",)),
}
JSON_PLATFORMS = ["vapi", "retell", "elevenlabs", "bland"]


def json_delivery(body: bytes) -> Delivery:
    return Delivery(
        body=body, headers={}, url="https://callscope.example/hook", content_type="application/json"
    )


def with_call_id(platform: str, value: Any) -> Any:
    name, path = REFERENCE[platform]
    message = payload(name)
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return message


@pytest.mark.parametrize("platform", list(REFERENCE))
@pytest.mark.parametrize("value", [[], "call", 1, None, True])
def test_a_payload_that_is_not_an_object(platform: str, value: Any) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS[platform].parse_payload(value)
    assert caught.value.field == "(payload)"


@pytest.mark.parametrize("platform", list(REFERENCE))
def test_a_missing_or_mistyped_call_id(platform: str) -> None:
    field = ".".join(REFERENCE[platform][1])
    for value in (None, "", 42, {"id": "x"}):
        with pytest.raises(PayloadInvalid) as caught:
            PLATFORMS[platform].parse_payload(with_call_id(platform, value))
        assert caught.value.field == field


@pytest.mark.parametrize("platform", list(REFERENCE))
@pytest.mark.parametrize("text", ["call\x00id", "call\ud800id"])
def test_unstorable_text_is_refused_naming_the_field(platform: str, text: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS[platform].parse_payload(with_call_id(platform, text))
    assert caught.value.field == ".".join(REFERENCE[platform][1])


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_a_nul_in_a_key_is_refused(platform: str) -> None:
    message = payload(REFERENCE[platform][0])
    message["bad\x00key"] = 1
    with pytest.raises(PayloadInvalid, match="NUL"):
        PLATFORMS[platform].parse_payload(message)


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
@pytest.mark.parametrize("depth", [40, 2_000, 100_000])
def test_deep_json_is_refused_without_crashing(platform: str, depth: int) -> None:
    body = b'{"a":' * depth + b"1" + b"}" * depth
    module = PLATFORMS[platform]
    with pytest.raises(PayloadInvalid) as caught:
        module.parse_payload(module.decode(json_delivery(body)))
    assert "nested" in caught.value.message


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_deep_value_built_in_memory_is_refused(platform: str) -> None:
    # As an export file's line may give it, past json.loads' own recursion limit.
    deep: Any = 1
    for _ in range(5_000):
        deep = [deep]
    message = payload(REFERENCE[platform][0])
    message["extra"] = deep
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS[platform].parse_payload(message)
    assert caught.value.field.startswith("extra")


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"cost": 1e400}',
        b'{"cost": -1e400}',
        b'{"cost": NaN}',
        b'{"cost": Infinity}',
        b'{"cost": ' + b"9" * 5000 + b"}",
        b'{"cost": 1',
        b"\xff\xfe{}",
        b"",
    ],
)
def test_bodies_that_are_not_storable_json(platform: str, body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS[platform].decode(json_delivery(body))
    assert caught.value.field == "(body)"


def test_huge_finite_numbers_are_refused_where_they_become_values() -> None:
    message = payload("vapi-end-of-call-report")
    message["message"]["cost"] = 1e300
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS["vapi"].parse_payload(message)
    assert caught.value.field == "message.cost"
    message = payload("retell-call_analyzed")
    message["call"]["start_timestamp"] = 1e300
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS["retell"].parse_payload(message)
    assert caught.value.field == "call.start_timestamp"


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_every_reference_payload_round_trips_through_decode(platform: str) -> None:
    module = PLATFORMS[platform]
    message = payload(REFERENCE[platform][0])
    decoded = module.decode(json_delivery(json.dumps(message).encode()))
    assert module.parse_payload(decoded).document is not None


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_text_that_only_looks_suspicious_is_accepted(platform: str) -> None:
    # A backslash followed by "u0000" is six ordinary characters; an emoji is a valid pair.
    message = payload(REFERENCE[platform][0])
    message["note"] = "C:\\u0000 and \U0001f600 and São Paulo"
    event = PLATFORMS[platform].parse_payload(message)
    assert event.payload["note"] == message["note"]


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_a_lone_surrogate_in_a_key_is_refused(platform: str) -> None:
    message = payload(REFERENCE[platform][0])
    message["bad\udc00key"] = 1
    with pytest.raises(PayloadInvalid, match="surrogate"):
        PLATFORMS[platform].parse_payload(message)


@pytest.mark.parametrize("platform", list(REFERENCE))
def test_credentials_anywhere_are_redacted_and_the_rest_kept(platform: str) -> None:
    message = payload(REFERENCE[platform][0])
    if platform == "twilio":
        message["AuthToken"] = "tw-secret"
        expected = {**message, "AuthToken": REDACTED}
    else:
        message["extra"] = [{"nested": {"apiKey": "k-secret", "Authorization": "Bearer b"}}]
        expected = {
            **message,
            "extra": [{"nested": {"apiKey": REDACTED, "Authorization": REDACTED}}],
        }
    event = PLATFORMS[platform].parse_payload(message)
    assert event.payload == expected
    assert event.document is not None


@pytest.mark.parametrize("platform", list(REFERENCE))
def test_a_payload_without_credentials_is_stored_as_sent(platform: str) -> None:
    message = payload(REFERENCE[platform][0])
    assert PLATFORMS[platform].parse_payload(message).payload == message


def test_durations_that_would_leave_the_storable_range_name_their_field() -> None:
    eleven = payload("elevenlabs-post_call_transcription")
    # Starts on 2199-12-30 and lasts three days.
    eleven["data"]["metadata"]["start_time_unix_secs"] = 7_258_000_000
    eleven["data"]["metadata"]["call_duration_secs"] = 3 * 86_400
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS["elevenlabs"].parse_payload(eleven)
    assert caught.value.field == "data.metadata.call_duration_secs"
    callback = payload("twilio-status_callback-completed")
    # Ends in 1980 after 31 years.
    callback["Timestamp"] = "Tue, 01 Jan 1980 00:00:00 +0000"
    callback["CallDuration"] = "999999999"
    with pytest.raises(PayloadInvalid) as caught:
        PLATFORMS["twilio"].parse_payload(callback)
    assert caught.value.field == "CallDuration"
