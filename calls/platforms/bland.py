"""Bland AI post-call webhooks: the call object itself (as ``GET /v1/calls/{id}`` returns it),
flat JSON with no event name; one delivery per call.

Units: ``created_at``/``started_at`` are ISO 8601; ``corrected_duration`` is a string of seconds
and ``call_length`` minutes (``end_at`` is documented as the automatic cut-off time, so the end is
the start plus the duration); a transcript row's ``created_at`` is wall-clock ISO 8601 (its offset
is taken from ``started_at``); ``price`` is USD (Bland bills per minute in USD: its example's 0.75
minutes cost 0.068, its published per-minute rate) and has no published breakdown. No latencies.

Signature: ``X-Webhook-Signature`` = hex HMAC-SHA256 of the raw body with the account's webhook
signing secret (Bland generates it; pasted into the connection). It carries no timestamp, so a
captured delivery can be sent again: the idempotency key makes that a resend.

Idempotency: ``call_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from calls.platforms import common, signing
from calls.platforms.base import Credentials, Delivery, PlatformEvent, SignatureInvalid
from calls.platforms.common import Fields

name = "bland"
schemes: tuple[str, ...] = ("hmac",)
generates_secret = False

SIGNATURE_HEADER = "x-webhook-signature"
EVENT = "post_call"

_STATUS = {
    "completed": "completed",
    "complete": "completed",
    "failed": "failed",
    "busy": "busy",
    "no-answer": "no-answer",
    "canceled": "canceled",
    "in-progress": "in-progress",
    "queued": "queue",
}
_FAILED_QUEUE_STATUSES = ("pre_queue_error", "queue_error", "call_error", "complete_error")
_ENDED_BY = {"ASSISTANT": "agent_ended_call", "USER": "human_ended_call"}
_ROLE = {"user": "human", "assistant": "bot", "robot": "bot", "agent-action": "tool"}


def verify(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    """Raises ``SignatureInvalid`` unless ``X-Webhook-Signature`` is the body's HMAC with one of
    the connection's secrets. ``now`` is unused: the signature has no timestamp."""
    signature = signing.header(delivery, SIGNATURE_HEADER).lower()
    if not signing.any_secret_matches(
        credentials.secrets, lambda secret: signing.hmac_hex(secret, delivery.body), [signature]
    ):
        raise SignatureInvalid(f"wrong signature in {SIGNATURE_HEADER} header")


def decode(delivery: Delivery) -> Any:
    return common.decode_json(delivery.body)


def status_for(call: Fields) -> str:
    if call.text("queue_status") in _FAILED_QUEUE_STATUSES or call.text("error_message"):
        return "failed"
    if call.text("answered_by") == "no-answer":
        return "no-answer"
    # A post-call webhook is sent when the call is over.
    return _STATUS.get(call.text("status"), "completed")


def parse_payload(payload: Any) -> PlatformEvent:
    """Maps one post-call payload (every delivery is the whole call)."""
    stored = common.storable(payload)
    call = Fields(payload)
    the_call_id = common.call_id(call, "call_id")
    document: dict[str, Any] = {
        "call_id": the_call_id,
        "platform": name,
        "status": status_for(call),
    }
    started = call.text("started_at")
    estimated = not started
    if started:
        start = common.from_iso(started, call.at("started_at"))
    else:
        # Never connected: the call's creation is the one instant it has.
        start = common.from_iso(call.text("created_at", required=True), call.at("created_at"))
    document["start_time"] = common.iso(start)

    seconds = call.numeric_text("corrected_duration")
    minutes = call.number("call_length")
    if seconds is None and minutes is not None and 0 <= minutes <= 35_000_000:
        seconds = round(minutes * 60)
    if seconds is not None:
        document["duration"] = seconds
        end = common.in_range(start + timedelta(seconds=seconds), call.at("corrected_duration"))
        document["end_time"] = common.iso(end)

    request = call.obj("request_data")
    pathway = request.text("pathway_id", max_length=100) if request is not None else ""
    if pathway:
        document["agent"] = {"model_id": pathway}
    inbound = call.boolean("inbound")
    if inbound is not None:
        document["type_of_call"] = "inbound" if inbound else "outbound"
    document["channel"] = "phone"
    caller, callee = call.text("from"), call.text("to")
    if caller:
        document["phone_number_from"] = common.phone(caller)
    if callee:
        document["phone_number_to"] = common.phone(callee)
    ours, theirs = (callee, caller) if inbound else (caller, callee)
    if ours:
        document["agent_phone_number"] = common.phone(ours)
    if theirs and (lead_number := common.lead_phone(theirs)):
        document["lead_phone_number"] = lead_number

    ended_by = call.text("call_ended_by", max_length=255)
    if ended_by:
        document["platform_end_reason"] = ended_by
    # Who hung up says how a conversation ended only when there was one.
    if error := call.text("error_message", max_length=10_000):
        document["error_message"] = error
        document["end_call_reason"] = "error"
    elif call.text("answered_by") == "voicemail":
        document["end_call_reason"] = "voicemail"
    elif document["status"] == "completed" and (normalised := _ENDED_BY.get(ended_by.upper())):
        document["end_call_reason"] = normalised
    if (recording := call.text("recording_url")) and len(recording) <= 1000:
        document["recording_url"] = recording
    if call.text("transferred_to"):
        document["handoff"] = True

    document["transcript"] = _transcript(call, start)
    price = call.number("price")
    if price is not None:
        document["cost_usd"] = common.usd(common.decimal_of(price, "price"), "price")
    variables = call.raw("variables")
    if isinstance(variables, dict):
        document["prompt_variables"] = variables
    analysis = call.raw("analysis")
    agent_key = pathway or name
    document["collected_variables"] = (
        {agent_key: {key[:200]: value for key, value in analysis.items()}}
        if isinstance(analysis, dict) and analysis
        else {}
    )
    summary = call.text("summary")
    if summary or analysis is not None:
        document["judge_results"] = {"summary": summary, "analysis": analysis}
    key = the_call_id
    return PlatformEvent(EVENT, the_call_id, key, stored, document, estimated)


def _transcript(call: Fields, start: datetime) -> list[dict[str, Any]]:
    turns = []
    for row in call.objects("transcripts"):
        role = _ROLE.get(row.text("user"))
        if role is None:
            continue
        turn: dict[str, Any] = {"role": role, "text": row.text("text")}
        if said_at := row.text("created_at"):
            offset = common.from_iso(said_at, row.at("created_at")) - start
            start_ms = common.offset_ms(offset.total_seconds())
            if start_ms is not None:
                turn["start_ms"] = start_ms
        turns.append(turn)
    return turns
