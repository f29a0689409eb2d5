"""Helpers for the platform modules' tests: the reference payloads and a check of the documents
they map to."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from calls.documents import CallDocument
from calls.enums import KNOWN_END_CALL_REASONS
from calls.platforms import Credentials, Delivery, PlatformEvent

PAYLOADS = Path(__file__).parent / "payloads"
# Keys of a platform's document that CallDocument does not (yet) model.
NEW_KEYS = {"platform", "platform_end_reason", "cost_usd", "cost_breakdown"}
COMPONENTS = {"stt", "llm", "tts", "telephony", "platform", "other"}


def payload(name: str) -> Any:
    """A fresh copy of a reference payload (``vapi-end-of-call-report`` …)."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


def body(name: str) -> bytes:
    return json.dumps(payload(name)).encode()


def checked(event: PlatformEvent, platform: str) -> dict[str, Any]:
    """The event's document, after checking that it is a valid call document and that its new
    keys hold what the call model accepts."""
    document = event.document
    assert document is not None
    CallDocument.model_validate({k: v for k, v in document.items() if k not in NEW_KEYS})
    assert document["platform"] == platform
    assert document["call_id"] == event.call_id
    assert len(document.get("platform_end_reason", "")) <= 255
    if "end_call_reason" in document:
        assert document["end_call_reason"] in KNOWN_END_CALL_REASONS
    amounts = [document["cost_usd"]] if "cost_usd" in document else []
    amounts += list(document.get("cost_breakdown", {}).values())
    for amount in amounts:
        value = Decimal(amount)
        assert value >= 0
        assert -value.as_tuple().exponent <= 6  # type: ignore[operator]
    assert set(document.get("cost_breakdown", {})) <= COMPONENTS
    # Documents travel as JSON.
    json.dumps(document)
    return document


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def delivery(
    body: bytes, headers: dict[str, str], url: str = "https://callscope.example/hook"
) -> Delivery:
    return Delivery(
        body=body,
        headers={k.lower(): v for k, v in headers.items()},
        url=url,
        content_type="application/json",
    )


def credentials(*secrets: str, **kwargs: Any) -> Credentials:
    return Credentials(secrets=secrets, **kwargs)


def flipped(text: str) -> str:
    """``text`` with one character changed (a digest one byte off)."""
    index = len(text.rstrip("=")) - 1
    return text[:index] + ("1" if text[index] == "0" else "0") + text[index + 1 :]
