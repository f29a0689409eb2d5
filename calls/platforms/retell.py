"""Retell AI webhooks: ``{"event": …, "call": {…}}`` JSON.

Used: ``call_started`` (the call is live), ``call_ended`` (the call object without its analysis)
and ``call_analyzed`` (the whole call). ``transcript_updated`` and ``transfer_*`` carry partial
transcripts that would replace the final one if they arrived late, and are ignored.

Units: ``start_timestamp``/``end_timestamp`` are epoch milliseconds, ``duration_ms``
milliseconds; a transcript word's ``start``/``end`` are seconds from the start of the audio;
latencies are milliseconds, one distribution per component per call (``values`` holds every
sample); costs are **cents** (``call_cost.combined_cost``, ``product_costs[].cost``), divided by
100 here.

Signature: ``x-retell-signature: v=<ms>,d=<hex>`` = HMAC-SHA256 of the raw body followed by the
millisecond timestamp, keyed with the Retell API key that carries the webhook badge (Retell's
secret, pasted into the connection), inside the time window (Retell's SDK: 5 minutes).

A call object exported by Retell's API maps like the webhook that carries it.

Idempotency: ``{call_id}:{event}``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from calls.platforms import common, signing
from calls.platforms.base import (
    Credentials,
    Delivery,
    PayloadInvalid,
    PlatformEvent,
    SignatureInvalid,
)
from calls.platforms.common import Fields

name = "retell"
schemes: tuple[str, ...] = ("api_key",)
generates_secret = False

SIGNATURE_HEADER = "x-retell-signature"
_SIGNATURE = re.compile(r"v=(\d{1,16}),d=([0-9a-f]{64})")

CALL_STARTED, CALL_ENDED, CALL_ANALYZED = "call_started", "call_ended", "call_analyzed"

_STATUS_BY_REASON = {
    "dial_busy": "busy",
    "user_declined": "busy",
    "dial_no_answer": "no-answer",
    "dial_failed": "failed",
    "invalid_destination": "failed",
    "telephony_provider_permission_denied": "failed",
    "telephony_provider_unavailable": "failed",
    "sip_routing_error": "failed",
    "marked_as_spam": "failed",
    "concurrency_limit_reached": "failed",
    "no_concurrency_fallback": "failed",
    "no_valid_payment": "failed",
    "credit_exhausted": "failed",
    "budget_reached": "failed",
    "network_blocked": "failed",
    "scam_detected": "failed",
    "registered_call_timeout": "failed",
}
_NORMALISED = {
    "user_hangup": "human_ended_call",
    "agent_hangup": "agent_ended_call",
    "voicemail_reached": "voicemail",
    "inactivity": "idle_time_exceeded",
    "max_duration_reached": "max_duration",
    "registered_call_timeout": "timeout",
    "manual_stopped": "user_canceled",
}
_LIVE_STATUS = {"registered": "registered", "ongoing": "in-progress"}
_ROLE = {
    "agent": "bot",
    "user": "human",
    "transfer_target": "human",
    "tool_call_invocation": "tool",
    "tool_call_result": "tool",
}
_LATENCY = (("asr", common.STT), ("llm", common.LLM), ("tts", common.TTS))


def verify(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    """Raises ``SignatureInvalid`` unless ``x-retell-signature`` signs the body with one of the
    connection's API keys inside the time window."""
    value = signing.header(delivery, SIGNATURE_HEADER)
    match = _SIGNATURE.fullmatch(value)
    if match is None:
        raise SignatureInvalid(f"malformed {SIGNATURE_HEADER} header")
    stamp, digest = match.groups()
    signed_at = signing.epoch_instant(stamp, SIGNATURE_HEADER, unit="ms")
    signing.check_window(signed_at, now, credentials.timestamp_tolerance, SIGNATURE_HEADER)
    message = delivery.body + stamp.encode()
    if not signing.any_secret_matches(
        credentials.secrets, lambda secret: signing.hmac_hex(secret, message), [digest]
    ):
        raise SignatureInvalid(f"wrong signature in {SIGNATURE_HEADER} header")


def decode(delivery: Delivery) -> Any:
    return common.decode_json(delivery.body)


def status_for(call_status: str, reason: str) -> str:
    """The Callscope status from Retell's ``call_status`` and ``disconnection_reason``."""
    if call_status in _LIVE_STATUS:
        return _LIVE_STATUS[call_status]
    if reason in _STATUS_BY_REASON:
        return _STATUS_BY_REASON[reason]
    if reason.startswith("error_") or call_status in ("error", "not_connected"):
        return "failed"
    return "completed"


def normalised_reason(reason: str) -> str | None:
    if reason in _NORMALISED:
        return _NORMALISED[reason]
    return "error" if reason.startswith("error_") else None


def as_webhook(payload: Any) -> Any:
    """A call object as Retell's API exports it (``GET /v2/get-call``: no ``event`` envelope) as
    the webhook that carries it: ``call_analyzed`` once analysed, ``call_ended`` once over,
    else ``call_started``. Anything else is returned as it is."""
    if not isinstance(payload, dict) or "event" in payload or "call_id" not in payload:
        return payload
    if payload.get("call_analysis") is not None:
        event = CALL_ANALYZED
    elif payload.get("call_status") in ("ended", "error", "not_connected"):
        event = CALL_ENDED
    else:
        event = CALL_STARTED
    return {"event": event, "call": payload}


def parse_payload(payload: Any) -> PlatformEvent:
    """Maps one webhook payload, or one call object exported by Retell's API; see the module
    docstring for what is used."""
    stored = common.storable(payload)
    envelope = Fields(as_webhook(payload))
    event = envelope.text("event", required=True, max_length=100)
    call = envelope.obj("call", required=True)
    assert call is not None
    the_call_id = common.call_id(call, "call_id")
    key = f"{the_call_id}:{event}"
    if event not in (CALL_STARTED, CALL_ENDED, CALL_ANALYZED):
        return PlatformEvent(event, the_call_id, key, stored)

    document: dict[str, Any] = {"call_id": the_call_id, "platform": name}
    reason = call.text("disconnection_reason", max_length=255)
    call_status = call.text("call_status")
    if event == CALL_STARTED:
        document["status"] = _LIVE_STATUS.get(call_status, "in-progress")
    else:
        document["status"] = status_for(call_status, reason)
    estimated = _times(document, call, ended=event != CALL_STARTED)
    _call_facts(document, call)
    if event == CALL_STARTED:
        return PlatformEvent(event, the_call_id, key, stored, document, estimated)

    if reason:
        document["platform_end_reason"] = reason
        if normalised := normalised_reason(reason):
            document["end_call_reason"] = normalised
        if reason in ("call_transfer", "transfer_bridged"):
            document["handoff"] = True
    turns, actions = _transcript(call)
    document["transcript"] = turns
    document["executed_actions"] = actions
    document["latencies"] = _latencies(call)
    if (recording := call.text("recording_url")) and len(recording) <= 1000:
        document["recording_url"] = recording
    _cost(document, call)
    if event == CALL_ANALYZED:
        # The analysis and the variables exist only in ``call_analyzed``; ``call_ended`` leaves
        # them out, so that, arriving after it, it cannot replace them with less.
        _analysis(document, call)
    return PlatformEvent(event, the_call_id, key, stored, document, estimated)


def _times(document: dict[str, Any], call: Fields, *, ended: bool) -> bool:
    start_ms = call.number("start_timestamp")
    end_ms = call.number("end_timestamp") if ended else None
    end = None
    if end_ms is not None:
        end = common.from_epoch(end_ms, call.at("end_timestamp"), unit="ms")
    if start_ms is not None:
        start = common.from_epoch(start_ms, call.at("start_timestamp"), unit="ms")
    elif end is not None:
        # A call that never connected (dial_failed, dial_no_answer…) may have no start: its end
        # is the one instant it has.
        start = end
    else:
        raise PayloadInvalid(call.at("start_timestamp"), "is required")
    document["start_time"] = common.iso(start)
    if end is not None:
        document["end_time"] = common.iso(end)
    duration_ms = call.number("duration_ms") if ended else None
    if duration_ms is not None and 0 <= duration_ms <= 2_147_483_647_000:
        document["duration"] = round(duration_ms / 1000)
    elif end is not None and start_ms is not None:
        seconds = common.whole_seconds(start, end)
        if seconds is not None:
            document["duration"] = seconds
    return start_ms is None


def _call_facts(document: dict[str, Any], call: Fields) -> None:
    """Agent, type, numbers and the variables the call was started with: the same in every
    event of a call."""
    if agent_id := call.text("agent_id", max_length=100):
        agent: dict[str, Any] = {"model_id": agent_id}
        if agent_name := call.text("agent_name", max_length=200):
            agent["name"] = agent_name
        document["agent"] = agent
    direction = call.text("direction")
    if call.text("call_type") == "web_call":
        document["type_of_call"] = "widget"
    elif call.text("call_type") == "phone_call":
        document["channel"] = "phone"
        if direction in ("inbound", "outbound"):
            document["type_of_call"] = direction
    caller, callee = call.text("from_number"), call.text("to_number")
    if caller:
        document["phone_number_from"] = common.phone(caller)
    if callee:
        document["phone_number_to"] = common.phone(callee)
    ours, theirs = (callee, caller) if direction == "inbound" else (caller, callee)
    if ours:
        document["agent_phone_number"] = common.phone(ours)
    if theirs and (lead_number := common.lead_phone(theirs)):
        document["lead_phone_number"] = lead_number
    dynamic = call.raw("retell_llm_dynamic_variables")
    if isinstance(dynamic, dict):
        document["prompt_variables"] = dynamic


def _transcript(call: Fields) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # The transcript with tool calls holds every utterance of the plain one, plus the calls.
    with_tools = "transcript_with_tool_calls" in call
    items = call.objects("transcript_with_tool_calls" if with_tools else "transcript_object")
    results = {
        item.text("tool_call_id"): item
        for item in items
        if item.text("role") == "tool_call_result" and item.text("tool_call_id")
    }
    turns: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for item in items:
        retell_role = item.text("role")
        role = _ROLE.get(retell_role)
        if role is None:
            continue  # node transitions, DTMF, SMS…: kept in the stored payload
        if retell_role == "tool_call_invocation":
            action = _action(item, results)
            actions.append(action)
            text = f"{action['name']}({item.text('arguments')})"
        else:
            text = item.text("content")
        turn: dict[str, Any] = {"role": role, "text": text}
        words = item.objects("words")
        if words:
            start_ms = common.offset_ms(words[0].number("start"))
            end_ms = common.offset_ms(words[-1].number("end"))
            if start_ms is not None:
                turn["start_ms"] = start_ms
                if end_ms is not None and end_ms >= start_ms:
                    turn["end_ms"] = end_ms
        turns.append(turn)
    return turns, actions


def _action(invocation: Fields, results: dict[str, Fields]) -> dict[str, Any]:
    tool_call_id = invocation.text("tool_call_id")
    action: dict[str, Any] = {
        "name": invocation.text("name", max_length=200) or "tool",
        "action_type": "tool_call",
        "arguments": invocation.raw("arguments"),
    }
    if tool_call_id:
        action["tool_call_id"] = tool_call_id
    result = results.get(tool_call_id) if tool_call_id else None
    if result is not None:
        action["result"] = result.raw("content")
        successful = result.boolean("successful")
        if successful is not None:
            action["success"] = successful
    return action


def _latencies(call: Fields) -> list[dict[str, Any]]:
    latency = call.obj("latency")
    if latency is None:
        return []
    samples: list[dict[str, Any]] = []
    for key, provider_type in _LATENCY:
        component = latency.obj(key)
        if component is None:
            continue
        # Every sample in order; Retell names no provider, so the platform stands for it.
        for value in component.array("values"):
            if (sample := common.latency(provider_type, name, value)) is not None:
                samples.append(sample)
    return samples


def _component(product: str) -> str:
    """The cost component of a Retell product name (``retell_platform``, ``elevenlabs_tts``,
    an LLM model name…)."""
    lowered = product.lower()
    if "tts" in lowered or "voice" in lowered:
        return common.TTS
    if "stt" in lowered or "asr" in lowered or "transcri" in lowered:
        return common.STT
    if "telephony" in lowered or "twilio" in lowered or "telnyx" in lowered or "sip" in lowered:
        return common.TELEPHONY
    if lowered.startswith("retell"):
        return common.PLATFORM
    if lowered.startswith(("gpt", "claude", "gemini", "llm", "o1", "o3", "o4")):
        return common.LLM
    return common.OTHER


def _cost(document: dict[str, Any], call: Fields) -> None:
    cost = call.obj("call_cost")
    if cost is None:
        return
    cents = cost.number("combined_cost")
    if cents is not None:
        path = cost.at("combined_cost")
        document["cost_usd"] = common.usd(common.decimal_of(cents, path) / 100, path)
    parts: list[tuple[str, Decimal]] = []
    for product in cost.objects("product_costs"):
        amount = product.number("cost")
        if amount is not None:
            dollars = common.decimal_of(amount, product.at("cost")) / 100
            parts.append((_component(product.text("product")), dollars))
    if parts:
        document["cost_breakdown"] = common.breakdown(parts, cost.at("product_costs"))


def _analysis(document: dict[str, Any], call: Fields) -> None:
    variables: dict[str, Any] = {}
    collected = call.raw("collected_dynamic_variables")
    if isinstance(collected, dict):
        variables.update(collected)
    analysis = call.obj("call_analysis")
    if analysis is not None:
        custom = analysis.raw("custom_analysis_data")
        if isinstance(custom, dict):
            variables.update(custom)
        document["judge_results"] = analysis.data
        sentiment = analysis.text("user_sentiment").lower()
        if sentiment in ("positive", "neutral", "negative"):
            document["sentiment"] = sentiment
        successful = analysis.boolean("call_successful")
        if successful is not None:
            document["success"] = successful
    agent_key = document.get("agent", {}).get("model_id", name)
    document["collected_variables"] = (
        {agent_key: {key[:200]: value for key, value in variables.items()}} if variables else {}
    )
