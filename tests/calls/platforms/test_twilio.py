"""Twilio: status callbacks mapped to call documents, and ``X-Twilio-Signature`` checked with
the vectors of Twilio's own request-validator tests."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from calls.platforms import Delivery, PayloadInvalid, SignatureInvalid, twilio
from tests.calls.platforms.helpers import at, checked, credentials, flipped, payload

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
JSON_BODY = b'{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
NOW = datetime(2026, 12, 3, tzinfo=UTC)
CALL_SID = "CAbe982f58915a2def4cf7aaa1f1766236"


def form(
    params: dict[str, str] | list[tuple[str, str]] = PARAMS,
    signature: str = SIGNATURE,
    url: str = URL,
    **headers: str,
) -> Delivery:
    return Delivery(
        body=urlencode(params).encode(),
        headers={"x-twilio-signature": signature, **headers},
        url=url,
        content_type="application/x-www-form-urlencoded",
    )


def json_delivery(body: bytes, url: str, signature: str) -> Delivery:
    return Delivery(
        body=body,
        headers={"x-twilio-signature": signature},
        url=url,
        content_type="application/json",
    )


def test_form_vector_verifies() -> None:
    twilio.verify(form(), credentials(TOKEN), NOW)


def test_field_order_does_not_matter() -> None:
    twilio.verify(form(list(reversed(PARAMS.items()))), credentials(TOKEN), NOW)


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # Signed with the default port, received without it (and the reverse).
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        (URL.replace(".com", ".com:1234"), SIGNATURE),
    ],
)
def test_urls_with_and_without_port(url: str, signature: str) -> None:
    twilio.verify(form(url=url, signature=signature), credentials(TOKEN), NOW)


def test_json_body_vector_verifies() -> None:
    url = f"{URL}&bodySHA256={BODY_HASH}"
    twilio.verify(
        json_delivery(JSON_BODY, url, "a9nBmqA0ju/hNViExpshrM61xv4="), credentials(TOKEN), NOW
    )
    only_hash = f"https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}"
    twilio.verify(
        json_delivery(JSON_BODY, only_hash, "y77kIzt2vzLz71DgmJGsen2scGs="), credentials(TOKEN), NOW
    )


def test_json_body_changed_by_one_byte_fails() -> None:
    url = f"{URL}&bodySHA256={BODY_HASH}"
    with pytest.raises(SignatureInvalid, match="bodySHA256"):
        twilio.verify(
            json_delivery(
                JSON_BODY.replace(b"value", b"valuE"), url, "a9nBmqA0ju/hNViExpshrM61xv4="
            ),
            credentials(TOKEN),
            NOW,
        )


def test_json_body_without_hash_fails() -> None:
    with pytest.raises(SignatureInvalid):
        twilio.verify(json_delivery(JSON_BODY, URL, SIGNATURE), credentials(TOKEN), NOW)


def test_one_changed_byte_fails() -> None:
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        twilio.verify(form({**PARAMS, "Digits": "1235"}), credentials(TOKEN), NOW)
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        twilio.verify(form(signature=flipped(SIGNATURE)), credentials(TOKEN), NOW)
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        twilio.verify(form(url=URL.replace("foo=1", "foo=2")), credentials(TOKEN), NOW)
    with pytest.raises(SignatureInvalid, match="wrong signature"):
        twilio.verify(form({**PARAMS, "Extra": ""}), credentials(TOKEN), NOW)


def test_missing_header_wrong_token_and_previous_token() -> None:
    missing = Delivery(body=urlencode(PARAMS).encode(), headers={}, url=URL)
    with pytest.raises(SignatureInvalid, match="missing"):
        twilio.verify(missing, credentials(TOKEN), NOW)
    with pytest.raises(SignatureInvalid):
        twilio.verify(form(), credentials("54321"), NOW)
    # Twilio's secondary auth token, promoted: the old one stays valid during the overlap.
    twilio.verify(form(), credentials("new-token", TOKEN), NOW)


def test_body_that_is_not_form_fields_fails() -> None:
    delivery = Delivery(
        body=b"\xff\xfe", headers={"x-twilio-signature": SIGNATURE}, url=URL, content_type=""
    )
    with pytest.raises(SignatureInvalid):
        twilio.verify(delivery, credentials(TOKEN), NOW)


def test_sha256_signature_settings() -> None:
    signature = twilio.compute_signature("shared-key", URL, list(PARAMS.items()), "sha256")
    settings = {
        "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    }
    twilio.verify(form(signature=signature, **settings), credentials("shared-key"), NOW)
    with pytest.raises(SignatureInvalid):
        twilio.verify(form(signature=signature), credentials("shared-key"), NOW)
    with pytest.raises(SignatureInvalid, match="unsupported"):
        twilio.verify(
            form(**{"x-twilio-webhooks-signature-settings": "algorithm=HMAC_MD5"}),
            credentials(TOKEN),
            NOW,
        )


def test_decode_reads_form_fields() -> None:
    decoded = twilio.decode(form({"CallSid": "CA1", "ToCity": "São Paulo", "ToZip": ""}))
    assert decoded == {"CallSid": "CA1", "ToCity": "São Paulo", "ToZip": ""}


@pytest.mark.parametrize("body", [b"a=%ff", b"novalue", b"\xc3"])
def test_decode_refuses_what_is_not_form_fields(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        twilio.decode(Delivery(body=body, headers={}, url=URL))


# Mapping ----------------------------------------------------------------------------------------


def test_ringing_answered_completed() -> None:
    ringing = twilio.parse_payload(payload("twilio-status_callback-ringing"))
    answered = twilio.parse_payload(payload("twilio-status_callback-answered"))
    completed = twilio.parse_payload(payload("twilio-status_callback-completed"))
    docs = [checked(e, "twilio") for e in (ringing, answered, completed)]

    assert [e.idempotency_key for e in (ringing, answered, completed)] == [
        f"{CALL_SID}:1",
        f"{CALL_SID}:2",
        f"{CALL_SID}:3",
    ]
    assert [d["status"] for d in docs] == ["ringing", "in-progress", "completed"]
    # Only the answered callback knows the start.
    assert [e.start_time_estimated for e in (ringing, answered, completed)] == [True, False, True]
    assert at(docs[1]["start_time"]) == datetime(2018, 3, 25, 9, 52, 30, tzinfo=UTC)
    # RFC 2822 Timestamp of completed is the end; CallDuration seconds.
    assert at(docs[2]["end_time"]) == datetime(2018, 3, 25, 9, 53, 19, tzinfo=UTC)
    assert docs[2]["duration"] == 49
    # Its own estimate of the start: the end minus the duration.
    assert docs[2]["start_time"] == docs[1]["start_time"]
    assert docs[2]["platform_end_reason"] == "completed"
    assert "end_call_reason" not in docs[2]
    assert docs[0]["type_of_call"] == "outbound"
    assert docs[0]["phone_number_from"] == "+16466063895"
    assert docs[0]["lead_phone_number"] == "+551135892112"
    assert not any("end_time" in d for d in docs[:2])


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_terminal_statuses(status: str) -> None:
    callback = payload("twilio-status_callback-completed")
    callback.update(CallStatus=status, CallDuration="0")
    document = checked(twilio.parse_payload(callback), "twilio")
    assert document["status"] == status
    assert document["platform_end_reason"] == status


def test_machine_answered_call_ended_at_voicemail() -> None:
    callback = payload("twilio-status_callback-completed")
    callback["AnsweredBy"] = "machine_end_beep"
    assert checked(twilio.parse_payload(callback), "twilio")["end_call_reason"] == "voicemail"


def test_unknown_status_gives_no_document() -> None:
    callback = payload("twilio-status_callback-ringing")
    callback["CallStatus"] = "something-new"
    event = twilio.parse_payload(callback)
    assert event.document is None and event.call_id == CALL_SID


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("CallSid"), "CallSid"),
        (lambda m: m.pop("CallStatus"), "CallStatus"),
        (lambda m: m.pop("Timestamp"), "Timestamp"),
        (lambda m: m.update(Timestamp="yesterday"), "Timestamp"),
        (lambda m: m.update(Timestamp="Tue, 31 Dec 1969 23:59:59 +0000"), "Timestamp"),
        (lambda m: m.update(CallDuration="49s"), "CallDuration"),
        (lambda m: m.update(SequenceNumber="-1"), "SequenceNumber"),
        (lambda m: m.update(From=["+1"]), "From"),
    ],
)
def test_malformed_callback_names_the_field(mutate, field: str) -> None:
    callback = payload("twilio-status_callback-completed")
    mutate(callback)
    with pytest.raises(PayloadInvalid) as caught:
        twilio.parse_payload(callback)
    assert caught.value.field == field
