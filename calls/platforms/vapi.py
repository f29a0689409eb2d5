"""Vapi server messages: ``{"message": {"type": …, "call": {…}, …}}`` JSON.

Used: ``status-update`` (moves a call through its live statuses) and ``end-of-call-report`` (the
finished call). Every other message type is ignored, and messages that expect an answer
(``assistant-request``, ``tool-calls``…) get none: Callscope observes calls, so the assistant's
``serverMessages`` sent to it should be just these two.

Units: ``startedAt``/``endedAt`` are ISO 8601; message ``timestamp`` and a turn's ``time`` and
``endTime`` are epoch milliseconds; ``secondsFromStart`` is seconds; costs are USD; latencies are
milliseconds (stated for the transport averages, assumed for the per-turn values). There is no
duration field: it is ``endedAt - startedAt``.

Signature: Vapi signs nothing by default; the connection names the credential attached to the
assistant's server URL:
- ``hmac`` (default): ``x-signature`` = hex HMAC-SHA256 of ``{timestamp}.{body}`` with
  ``x-timestamp`` (seconds or milliseconds, both accepted), inside the time window: the defaults
  of Vapi's HMAC credential (other algorithms, base64 or payload formats are not accepted). The
  signature header can be renamed in Vapi; ``Credentials.header_name`` names it then.
- ``bearer``: the secret itself in ``Authorization: Bearer …`` or, when ``header_name`` names
  another header (the legacy ``X-Vapi-Secret``), in that header. It carries no timestamp, so a
  captured delivery can be replayed; prefer ``hmac``.
Callscope may choose the secret: the tenant pastes it into the Vapi credential.

A call object exported by Vapi's API (``GET /call``) maps like the message that reports it.

Idempotency: ``{call id}:status-update:{status}`` and ``{call id}:end-of-call-report`` (sent once
per call). Secrets Vapi embeds (``phoneNumber.twilioAuthToken``…) are redacted.
"""

from __future__ import annotations

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

name = "vapi"
schemes: tuple[str, ...] = ("hmac", "bearer")
generates_secret = True

SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-timestamp"
BEARER_HEADER = "authorization"

END_OF_CALL_REPORT = "end-of-call-report"
STATUS_UPDATE = "status-update"

# Vapi's credentials for the phone numbers it dials through, plus the generic secret keys.
SECRET_KEYS = common.SECRET_KEYS | {"twilioauthtoken", "twilioapikey", "twilioapisecret"}

# ``status-update`` statuses; ``ended`` is resolved from the end reason, ``not-found`` and
# ``deletion-failed`` describe an API object, not a call's progress, and are ignored.
_LIVE_STATUS = {
    "scheduled": "pending",
    "queued": "queue",
    "ringing": "ringing",
    "in-progress": "in-progress",
    # Being transferred: the call is still live.
    "forwarding": "in-progress",
}
_ENDED_STATUS = {
    "customer-busy": "busy",
    "call.forwarding.operator-busy": "busy",
    "customer-did-not-answer": "no-answer",
    "call.forwarding.no-answer": "no-answer",
    "manually-canceled": "canceled",
    "scheduled-call-deleted": "canceled",
    "call-deleted": "canceled",
    "call.ringing.sip-inbound-caller-hungup-before-call-connect": "canceled",
    "assistant-not-valid": "failed",
    "assistant-not-found": "failed",
    "assistant-join-timed-out": "failed",
    "assistant-request-returned-invalid-assistant": "failed",
    "assistant-request-returned-no-assistant": "failed",
    "customer-did-not-give-microphone-permission": "failed",
    "phone-call-provider-bypass-enabled-but-no-call-received": "failed",
    "twilio-reported-customer-misdialed": "failed",
    "vonage-rejected": "failed",
    "worker-shutdown": "failed",
}
# Normalised end reasons (``calls.enums.KNOWN_END_CALL_REASONS``). The caller ending the call is
# ``human_ended_call`` on every platform, so cross-platform counts agree.
_NORMALISED = {
    "assistant-ended-call": "agent_ended_call",
    "assistant-ended-call-with-hangup-task": "agent_ended_call",
    "assistant-ended-call-after-message-spoken": "agent_ended_call",
    "assistant-said-end-call-phrase": "agent_goodbye",
    "customer-ended-call": "human_ended_call",
    "customer-ended-call-before-warm-transfer": "human_ended_call",
    "customer-ended-call-after-warm-transfer-attempt": "human_ended_call",
    "customer-ended-call-during-transfer": "human_ended_call",
    "exceeded-max-duration": "max_duration",
    "silence-timed-out": "idle_time_exceeded",
    "voicemail": "voicemail",
    "manually-canceled": "user_canceled",
}
_CALL_TYPE = {"inboundPhoneCall": "inbound", "outboundPhoneCall": "outbound", "webCall": "widget"}
_ROLE = {
    "bot": "bot",
    "assistant": "bot",
    "user": "human",
    "system": "system",
    "tool_calls": "tool",
    "tool_call_result": "tool",
}
_COST_TYPE = {
    "transport": common.TELEPHONY,
    "transcriber": common.STT,
    "model": common.LLM,
    "voice": common.TTS,
    "vapi": common.PLATFORM,
}


def _is_failure(reason: str) -> bool:
    # 587 of Vapi's 627 end reasons name an error, a provider or Vapi fault, or a failure.
    return any(word in reason for word in ("error", "fault", "failed"))


def status_for_ended(reason: str) -> str:
    """The Callscope status of an ended call, from Vapi's ``endedReason``."""
    if reason in _ENDED_STATUS:
        return _ENDED_STATUS[reason]
    return "failed" if _is_failure(reason) else "completed"


def normalised_reason(reason: str) -> str | None:
    if reason in _NORMALISED:
        return _NORMALISED[reason]
    return "error" if _is_failure(reason) else None


# Verification ----------------------------------------------------------------------------------


def verify(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    """Raises ``SignatureInvalid`` unless the delivery carries the connection's credential (see
    the module docstring); compares in constant time against every secret."""
    scheme = credentials.scheme or schemes[0]
    if scheme == "bearer":
        _verify_bearer(delivery, credentials)
    elif scheme == "hmac":
        _verify_hmac(delivery, credentials, now)
    else:
        raise SignatureInvalid("unknown credential scheme")


def _verify_hmac(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    signature_header = credentials.header_name or SIGNATURE_HEADER
    signature = signing.header(delivery, signature_header).lower()
    # Vapi lets a credential prefix the digest (``signaturePrefix``, e.g. ``sha256=``).
    signature = signature.removeprefix("sha256=")
    stamp = signing.header(delivery, TIMESTAMP_HEADER)
    # Vapi does not document the unit of its timestamp; both are read, by size.
    signed_at = signing.epoch_instant(stamp, TIMESTAMP_HEADER, unit="auto")
    signing.check_window(signed_at, now, credentials.timestamp_tolerance, TIMESTAMP_HEADER)
    message = stamp.encode() + b"." + delivery.body
    if not signing.any_secret_matches(
        credentials.secrets, lambda secret: signing.hmac_hex(secret, message), [signature]
    ):
        raise SignatureInvalid(f"wrong signature in {signature_header} header")


def _verify_bearer(delivery: Delivery, credentials: Credentials) -> None:
    header_name = credentials.header_name or BEARER_HEADER
    value = signing.header(delivery, header_name)
    if header_name.lower() == BEARER_HEADER:
        scheme_word, _, token = value.partition(" ")
        if scheme_word.lower() != "bearer" or not token.strip():
            raise SignatureInvalid(f"malformed {header_name} header")
        value = token.strip()
    if not signing.any_secret_matches(credentials.secrets, lambda secret: secret, [value]):
        raise SignatureInvalid(f"wrong secret in {header_name} header")


def decode(delivery: Delivery) -> Any:
    return common.decode_json(delivery.body)


# Mapping ---------------------------------------------------------------------------------------


# The fields an end-of-call report repeats from its call (a call exported by Vapi's API has them).
_REPORT_FIELDS = ("startedAt", "endedAt", "endedReason", "cost", "costs", "artifact", "analysis")


def as_server_message(payload: Any) -> Any:
    """A call object as Vapi's API exports it (``GET /call``: no ``message`` envelope) as the
    server message that reports it: an end-of-call report for an ended call, else a status
    update. Anything else is returned as it is."""
    if not isinstance(payload, dict) or "message" in payload or "id" not in payload:
        return payload
    status = payload.get("status")
    if status != "ended":
        return {"message": {"type": STATUS_UPDATE, "status": status, "call": payload}}
    message = {key: payload[key] for key in _REPORT_FIELDS if key in payload}
    return {"message": {"type": END_OF_CALL_REPORT, **message, "call": payload}}


def parse_payload(payload: Any) -> PlatformEvent:
    """Maps one server message, or one call object exported by Vapi's API; see the module
    docstring for what is used."""
    stored = common.storable(payload, SECRET_KEYS)
    envelope = Fields(as_server_message(payload))
    message = envelope.obj("message", required=True)
    assert message is not None
    event_type = message.text("type", required=True, max_length=100)
    call = message.obj("call")
    if event_type not in (STATUS_UPDATE, END_OF_CALL_REPORT):
        # Unused messages may concern no call at all (``chat.created``…).
        the_call_id = call.text("id", max_length=100) if call is not None else ""
        stamp = message.number("timestamp")
        key = f"{the_call_id}:{event_type}:{'' if stamp is None else stamp}"
        return PlatformEvent(event_type, the_call_id, key, stored)
    if call is None:
        raise PayloadInvalid(message.at("call"), "is required")
    the_call_id = common.call_id(call, "id")

    if event_type == STATUS_UPDATE:
        vapi_status = message.text("status", required=True, max_length=100)
        key = f"{the_call_id}:{STATUS_UPDATE}:{vapi_status}"
        if vapi_status != "ended" and vapi_status not in _LIVE_STATUS:
            return PlatformEvent(event_type, the_call_id, key, stored)
        document, estimated = _status_update(message, call, the_call_id, vapi_status)
    else:
        key = f"{the_call_id}:{END_OF_CALL_REPORT}"
        document, estimated = _end_of_call_report(message, call, the_call_id)
    return PlatformEvent(event_type, the_call_id, key, stored, document, estimated)


def _base(message: Fields, call: Fields, the_call_id: str) -> tuple[dict[str, Any], bool]:
    """What every used message says of its call: id, start, agent, type and numbers."""
    document: dict[str, Any] = {"call_id": the_call_id, "platform": name}
    started = message.text("startedAt") or call.text("startedAt")
    started_path = message.at("startedAt") if "startedAt" in message else call.at("startedAt")
    estimated = not started
    if started:
        start = common.from_iso(started, started_path)
    elif created := call.text("createdAt"):
        # Not started yet (queued, ringing) or never: the call's creation is the best instant a
        # message has; the message that reports the start corrects it.
        start = common.from_iso(created, call.at("createdAt"))
    elif (stamp := message.number("timestamp")) is not None:
        start = common.from_epoch(stamp, message.at("timestamp"), unit="ms")
    else:
        raise PayloadInvalid(message.at("call.startedAt"), "is required")
    document["start_time"] = common.iso(start)

    assistant_id = (
        call.text("assistantId", max_length=100)
        or call.text("squadId", max_length=100)
        or call.text("workflowId", max_length=100)
    )
    if assistant_id:
        agent: dict[str, Any] = {"model_id": assistant_id}
        assistant = message.obj("assistant")
        if assistant is not None and (assistant_name := assistant.text("name", max_length=200)):
            agent["name"] = assistant_name
        document["agent"] = agent
    call_type = _CALL_TYPE.get(call.text("type"))
    if call_type:
        document["type_of_call"] = call_type
    if call.text("type") in ("inboundPhoneCall", "outboundPhoneCall"):
        document["channel"] = "phone"
    customer = message.obj("customer") or call.obj("customer")
    number = message.obj("phoneNumber")
    customer_number = customer.text("number") if customer is not None else ""
    our_number = number.text("number") if number is not None else ""
    if customer_number and (lead_number := common.lead_phone(customer_number)):
        document["lead_phone_number"] = lead_number
    if our_number:
        document["agent_phone_number"] = common.phone(our_number)
    caller, callee = (
        (our_number, customer_number) if call_type == "outbound" else (customer_number, our_number)
    )
    if caller:
        document["phone_number_from"] = common.phone(caller)
    if callee:
        document["phone_number_to"] = common.phone(callee)
    return document, estimated


def _end(
    document: dict[str, Any], message: Fields, call: Fields, reason: str, estimated: bool
) -> None:
    """End time, duration and end reason: the same in ``status-update`` ``ended`` and in the
    end-of-call report, so either order gives one call."""
    ended = message.text("endedAt") or call.text("endedAt")
    if ended:
        path = message.at("endedAt") if "endedAt" in message else call.at("endedAt")
        end = common.from_iso(ended, path)
        document["end_time"] = common.iso(end)
        # A call that never started has no talk time to derive.
        start = common.from_iso(document["start_time"], path)
        duration = None if estimated else common.whole_seconds(start, end)
        if duration is not None:
            document["duration"] = duration
    document["status"] = status_for_ended(reason) if reason else "completed"
    if reason:
        document["platform_end_reason"] = reason
        if normalised := normalised_reason(reason):
            document["end_call_reason"] = normalised
        if reason == "assistant-forwarded-call":
            document["handoff"] = True


def _status_update(
    message: Fields, call: Fields, the_call_id: str, vapi_status: str
) -> tuple[dict[str, Any], bool]:
    # Only what the status tells: the transcript and artifacts a ``forwarding`` update carries
    # are partial, and would replace the report's complete ones if they arrived after it.
    document, estimated = _base(message, call, the_call_id)
    if vapi_status == "ended":
        reason = message.text("endedReason", max_length=255) or call.text(
            "endedReason", max_length=255
        )
        _end(document, message, call, reason, estimated)
    else:
        document["status"] = _LIVE_STATUS[vapi_status]
    return document, estimated


def _end_of_call_report(
    message: Fields, call: Fields, the_call_id: str
) -> tuple[dict[str, Any], bool]:
    document, estimated = _base(message, call, the_call_id)
    reason = message.text("endedReason", max_length=255) or call.text("endedReason", max_length=255)
    _end(document, message, call, reason, estimated)
    artifact = message.obj("artifact") or Fields({}, message.at("artifact"))
    analysis = message.obj("analysis") or Fields({}, message.at("analysis"))

    turns, actions = _transcript(artifact)
    document["transcript"] = turns
    document["executed_actions"] = actions
    document["latencies"] = _latencies(artifact, message)
    if recording := _recording_url(artifact):
        document["recording_url"] = recording

    agent_key = document.get("agent", {}).get("model_id", name)
    variables = _collected(analysis, artifact)
    document["collected_variables"] = {agent_key: variables} if variables else {}
    prompt_variables = artifact.raw("variableValues")
    if isinstance(prompt_variables, dict):
        document["prompt_variables"] = prompt_variables
    if analysis.data:
        document["judge_results"] = analysis.data
    verdict = analysis.text("successEvaluation").strip().lower()
    # Only the default pass/fail rubric answers yes or no; a score is no verdict.
    if verdict in ("true", "false"):
        document["success"] = verdict == "true"

    total = message.number("cost")
    total_path = message.at("cost")
    if total is None:
        total, total_path = call.number("cost"), call.at("cost")
    if total is not None:
        document["cost_usd"] = common.usd(common.decimal_of(total, total_path), total_path)
    parts = _cost_parts(message)
    if parts:
        document["cost_breakdown"] = common.breakdown(parts, message.at("costs"))
    return document, estimated


def _transcript(artifact: Fields) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    turns: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    results: dict[str, Fields] = {}
    messages = artifact.objects("messages")
    for item in messages:
        if item.text("role") == "tool_call_result" and (tool_call_id := item.text("toolCallId")):
            results[tool_call_id] = item
    for item in messages:
        role = _ROLE.get(item.text("role"))
        if role is None:
            continue  # an unknown role; kept in the stored payload
        text = item.text("message")
        if item.text("role") == "tool_calls":
            calls = [_tool_call(c, item, results) for c in item.objects("toolCalls")]
            actions.extend(calls)
            text = text or "; ".join(f"{a['name']}({a.get('arguments', '')})" for a in calls)
        elif item.text("role") == "tool_call_result":
            text = text or item.text("result")
        turn: dict[str, Any] = {"role": role, "text": text}
        start_ms = common.offset_ms(item.number("secondsFromStart"))
        if start_ms is not None:
            turn["start_ms"] = start_ms
            time, end_time = item.number("time"), item.number("endTime")
            if time is not None and end_time is not None and end_time >= time:
                end_ms = start_ms + round(end_time - time)
                if end_ms <= 2_147_483_647:
                    turn["end_ms"] = end_ms
        turns.append(turn)
    return turns, actions


def _tool_call(tool_call: Fields, message: Fields, results: dict[str, Fields]) -> dict[str, Any]:
    function = tool_call.obj("function") or Fields({}, tool_call.at("function"))
    action: dict[str, Any] = {
        "name": function.text("name", max_length=200) or "tool",
        "action_type": tool_call.text("type", max_length=64) or "function",
    }
    arguments = function.raw("arguments")
    if arguments is not None:
        action["arguments"] = arguments
    tool_call_id = tool_call.text("id")
    if tool_call_id:
        action["tool_call_id"] = tool_call_id
    result = results.get(tool_call_id) if tool_call_id else None
    if result is not None:
        action["result"] = result.raw("result")
        started, finished = message.number("time"), result.number("time")
        if started is not None and finished is not None and 0 <= finished - started <= 86_400_000:
            action["latency_ms"] = finished - started
    return action


def _providers(message: Fields) -> dict[str, str]:
    """The transcriber, model and voice providers named by the report's costs."""
    found: dict[str, str] = {}
    for kind, key, provider_type in (
        ("transcriber", "transcriber", common.STT),
        ("model", "model", common.LLM),
        ("voice", "voice", common.TTS),
    ):
        for cost in message.objects("costs"):
            detail = cost.obj(key) if cost.text("type") == kind else None
            if detail is not None and (provider := detail.text("provider")):
                found[provider_type] = provider
                break
    return found


def _latencies(artifact: Fields, message: Fields) -> list[dict[str, Any]]:
    metrics = artifact.obj("performanceMetrics")
    if metrics is None:
        return []
    providers = _providers(message)
    keys = (
        ("transcriberLatency", common.STT),
        ("modelLatency", common.LLM),
        ("voiceLatency", common.TTS),
    )
    # Per turn when Vapi sends turns; else the call's averages are its one sample per provider.
    turns = metrics.objects("turnLatencies")
    rows = [(turn, "") for turn in turns] if turns else [(metrics, "Average")]
    samples: list[dict[str, Any]] = []
    for row, suffix in rows:
        for key, provider_type in keys:
            value = row.number(key + suffix)
            if value is None:
                continue
            provider = providers.get(provider_type, name)
            if (sample := common.latency(provider_type, provider, value)) is not None:
                samples.append(sample)
    return samples


def _recording_url(artifact: Fields) -> str:
    recording = artifact.obj("recording")
    mono = recording.obj("mono") if recording is not None else None
    candidates = [
        mono.text("combinedUrl") if mono is not None else "",
        artifact.text("recordingUrl"),
        recording.text("stereoUrl") if recording is not None else "",
        artifact.text("stereoRecordingUrl"),
    ]
    return next((url for url in candidates if url and len(url) <= 1000), "")


def _collected(analysis: Fields, artifact: Fields) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    structured = analysis.raw("structuredData")
    if isinstance(structured, dict):
        variables.update(structured)
    outputs = artifact.obj("structuredOutputs")
    if outputs is not None:
        for output_id in outputs.data:
            output = outputs.obj(output_id)
            if output is None:
                continue
            variables[output.text("name", max_length=200) or output_id[:200]] = output.raw("result")
    return {key[:200]: value for key, value in variables.items()}


def _cost_parts(message: Fields) -> list[tuple[str, Decimal]]:
    parts = []
    for cost in message.objects("costs"):
        amount = cost.number("cost")
        if amount is None:
            continue
        component = _COST_TYPE.get(cost.text("type"), common.OTHER)
        parts.append((component, common.decimal_of(amount, cost.at("cost"))))
    return parts
