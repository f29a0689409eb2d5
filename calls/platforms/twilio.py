"""Twilio Programmable Voice status callbacks: form-encoded fields (``CallSid``, ``CallStatus``,
``Timestamp``, ``SequenceNumber``…), one request per subscribed event (``initiated``,
``ringing``, ``answered`` = ``in-progress``, ``completed``), in no guaranteed order.

Units: ``Timestamp`` is RFC 2822; ``CallDuration`` a string of whole seconds (on ``completed``
only). The start of a call is the ``Timestamp`` of its ``in-progress`` callback; ``completed``
gives its end, and its start as end minus duration until that callback is seen. No transcript,
cost or latency.

Signature: ``X-Twilio-Signature`` = base64 HMAC-SHA1, keyed with the account's auth token
(Twilio's secret, pasted into the connection), of the full URL Twilio requested followed by each
form field name and value, sorted by name (twilio's ``RequestValidator``): tried with and without
the URL's default port, since Twilio signs either. A JSON body is covered by the URL's
``bodySHA256`` parameter (hex SHA-256 of the body) instead of fields. A request carrying
``X-Twilio-Webhooks-Signature-Settings: …,algorithm=HMAC_SHA256`` is signed with HMAC-SHA256 and
a shared key instead. No timestamp: replays are resends by the idempotency key.

Idempotency: ``{CallSid}:{SequenceNumber}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import ParseResult, parse_qs, parse_qsl, urlparse

from calls.platforms import common, signing
from calls.platforms.base import (
    Credentials,
    Delivery,
    PayloadInvalid,
    PlatformEvent,
    SignatureInvalid,
)
from calls.platforms.common import Fields

name = "twilio"
schemes: tuple[str, ...] = ("auth_token",)
generates_secret = False

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}

_STATUS = {
    "queued": "queue",
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "no-answer",
    "canceled": "canceled",
}
_TERMINAL = ("completed", "busy", "failed", "no-answer", "canceled")


# Verification ----------------------------------------------------------------------------------


def _with_port(url: ParseResult) -> str:
    if url.port:
        return url.geturl()
    port = 443 if url.scheme == "https" else 80
    return url._replace(netloc=f"{url.netloc}:{port}").geturl()


def _without_port(url: ParseResult) -> str:
    if not url.port:
        return url.geturl()
    return url._replace(netloc=url.netloc.split(":")[0]).geturl()


def compute_signature(
    secret: str, url: str, params: list[tuple[str, str]], algorithm: str = "sha1"
) -> str:
    """Twilio's signature of a request: the URL, then every field name followed by each of its
    distinct values, names and values sorted."""
    by_name: dict[str, set[str]] = {}
    for key, value in params:
        by_name.setdefault(key, set()).add(value)
    text = url + "".join(key + value for key in sorted(by_name) for value in sorted(by_name[key]))
    digest = hmac.new(secret.encode(), text.encode(), getattr(hashlib, algorithm)).digest()
    return base64.b64encode(digest).decode()


def _algorithm(delivery: Delivery) -> str:
    settings = delivery.headers.get(SETTINGS_HEADER, "")
    for part in settings.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip() == "algorithm" and value.strip():
            algorithm = _ALGORITHMS.get(value.strip().upper())
            if algorithm is None:
                raise SignatureInvalid(f"unsupported algorithm in {SETTINGS_HEADER} header")
            return algorithm
    return "sha1"


def verify(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    """Raises ``SignatureInvalid`` unless ``X-Twilio-Signature`` signs the request with one of
    the connection's auth tokens. ``now`` is unused: the signature has no timestamp."""
    signature = signing.header(delivery, SIGNATURE_HEADER)
    algorithm = _algorithm(delivery)
    url = urlparse(delivery.url)
    body_hashes = parse_qs(url.query).get("bodySHA256")
    params: list[tuple[str, str]] = []
    if body_hashes:
        # The body is covered by its hash in the (signed) URL, not by fields.
        actual = hashlib.sha256(delivery.body).hexdigest().encode()
        if not hmac.compare_digest(actual, body_hashes[0].lower().encode()):
            raise SignatureInvalid("body does not match the bodySHA256 of the URL")
    elif delivery.body:
        try:
            params = parse_qsl(
                delivery.body.decode("ascii"), keep_blank_values=True, strict_parsing=True
            )
        except (UnicodeDecodeError, ValueError):
            raise SignatureInvalid("body is not form fields nor covered by bodySHA256") from None
    # Twilio signs the URL with or without its default port; either form is accepted.
    urls = (_without_port(url), _with_port(url))
    if not _matches(credentials, urls, params, algorithm, signature):
        raise SignatureInvalid(f"wrong signature in {SIGNATURE_HEADER} header")


def _matches(
    credentials: Credentials,
    urls: tuple[str, str],
    params: list[tuple[str, str]],
    algorithm: str,
    signature: str,
) -> bool:
    matched = False
    for form in urls:
        matched |= signing.any_secret_matches(
            credentials.secrets, _signer(form, params, algorithm), [signature]
        )
    return matched


def _signer(url: str, params: list[tuple[str, str]], algorithm: str) -> Callable[[str], str]:
    return lambda secret: compute_signature(secret, url, params, algorithm)


def decode(delivery: Delivery) -> Any:
    if "json" in delivery.content_type.lower():
        return common.decode_json(delivery.body)
    return common.decode_form(delivery.body)


# Mapping ---------------------------------------------------------------------------------------


def _timestamp(fields: Fields) -> datetime:
    text = fields.text("Timestamp", required=True, max_length=100)
    try:
        instant = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise PayloadInvalid("Timestamp", "must be an RFC 2822 date and time") from None
    if instant.tzinfo is None:  # "-0000": the time is UTC, its origin's zone unknown
        instant = instant.replace(tzinfo=UTC)
    return common.in_range(instant.astimezone(UTC), "Timestamp")


def parse_payload(payload: Any) -> PlatformEvent:
    """Maps one status callback (its form fields as a dict of strings)."""
    stored = common.storable(payload)
    fields = Fields(payload)
    for key, value in fields.data.items():
        if not isinstance(value, str):
            raise PayloadInvalid(str(key), "must be a string (Twilio sends form fields)")
    the_call_id = common.call_id(fields, "CallSid")
    twilio_status = fields.text("CallStatus", required=True, max_length=100)
    sequence = fields.numeric_text("SequenceNumber")
    key = f"{the_call_id}:{twilio_status if sequence is None else sequence}"
    status = _STATUS.get(twilio_status)
    if status is None:
        return PlatformEvent(twilio_status, the_call_id, key, stored)

    at = _timestamp(fields)
    document: dict[str, Any] = {
        "call_id": the_call_id,
        "platform": name,
        "status": status,
        "channel": "phone",
    }
    duration = fields.numeric_text("CallDuration")
    # Only the answered callback knows the start; the others carry their own time.
    estimated = twilio_status != "in-progress"
    start = at
    if twilio_status in _TERMINAL:
        document["end_time"] = common.iso(at)
        document["platform_end_reason"] = twilio_status
        if duration is not None:
            document["duration"] = duration
            start = common.in_range(at - timedelta(seconds=duration), "CallDuration")
        if fields.text("AnsweredBy").startswith("machine"):
            document["end_call_reason"] = "voicemail"
        if (recording := fields.text("RecordingUrl")) and len(recording) <= 1000:
            document["recording_url"] = recording
    document["start_time"] = common.iso(start)

    direction = fields.text("Direction")
    if direction == "inbound":
        document["type_of_call"] = "inbound"
    elif direction.startswith("outbound"):
        document["type_of_call"] = "outbound"
    caller, callee = fields.text("From"), fields.text("To")
    if caller:
        document["phone_number_from"] = common.phone(caller)
    if callee:
        document["phone_number_to"] = common.phone(callee)
    ours, theirs = (callee, caller) if direction == "inbound" else (caller, callee)
    if ours:
        document["agent_phone_number"] = common.phone(ours)
    if theirs and (lead_number := common.lead_phone(theirs)):
        document["lead_phone_number"] = lead_number
    return PlatformEvent(twilio_status, the_call_id, key, stored, document, estimated)
