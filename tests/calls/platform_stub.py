"""A small platform module for the receiver's tests, shaped like the real ones
(``calls.platforms.base.Platform``): ``x-stub-signature: t=<unix s>,v1=<hex HMAC-SHA256 of
"t.body">`` within five minutes either way, JSON payloads ``{"event", "call": {...}}``.

Registered into ``calls.platforms.PLATFORMS`` by the ``stub_platform`` fixture under a real
platform's name (the stored ``platform`` is a ``CallPlatform`` value).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

from calls.platforms import (
    Credentials,
    Delivery,
    PayloadInvalid,
    PlatformEvent,
    SignatureInvalid,
)

WINDOW_SECONDS = 300
USED_EVENTS = {"call_started", "call_ended"}


def sign(secret: str, body: bytes, at: float | None = None) -> str:
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class StubPlatform:
    schemes = ("hmac",)
    generates_secret = True

    def __init__(self, name: str = "bland") -> None:
        self.name = name
        # What a "mapping fix" changes in the reprocessing tests.
        self.cost_divisor = 100

    def verify(self, delivery: Delivery, credentials: Credentials, now: datetime) -> None:
        header = delivery.headers.get("x-stub-signature", "")
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
            raise SignatureInvalid("missing or malformed x-stub-signature")
        if abs(now.timestamp() - int(parts["t"])) > WINDOW_SECONDS:
            raise SignatureInvalid("timestamp outside the window")
        signed = parts["t"].encode() + b"." + delivery.body
        for secret in credentials.secrets:
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, parts["v1"]):
                return
        raise SignatureInvalid("signature does not match")

    def decode(self, delivery: Delivery) -> Any:
        try:
            return json.loads(delivery.body)
        except ValueError:
            raise PayloadInvalid("(body)", "not JSON") from None

    def parse_payload(self, payload: Any) -> PlatformEvent:
        if not isinstance(payload, dict):
            raise PayloadInvalid("(payload)", "must be an object")
        event = payload.get("event")
        call = payload.get("call")
        if not isinstance(event, str):
            raise PayloadInvalid("event", "must be a string")
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise PayloadInvalid("call.id", "must be a string")
        redacted = {**payload, "call": {**call}}
        if "secret_token" in call:
            redacted["call"]["secret_token"] = "[redacted]"
        key = f"{call['id']}:{event}"
        if event not in USED_EVENTS:
            return PlatformEvent(event, call["id"], key, redacted, None)
        document: dict[str, Any] = {
            "call_id": call["id"],
            "status": "in-progress" if event == "call_started" else call.get("status", "completed"),
            "start_time": call.get("start"),
        }
        if event == "call_ended":
            document["end_time"] = call.get("end")
            if "cost_cents" in call:
                document["cost_usd"] = str(call["cost_cents"] / self.cost_divisor)
            if "transcript" in call:
                document["transcript"] = call["transcript"]
            if "reason" in call:
                document["platform_end_reason"] = call["reason"]
        return PlatformEvent(event, call["id"], key, redacted, document)
