"""ElevenLabs Agents post-call webhooks: ``{"type": …, "event_timestamp": <s>, "data": {…}}``
JSON.

Used: ``post_call_transcription`` (the finished conversation, analysis included) and
``call_initiation_failure`` (a call that never connected; its payload is not in ElevenLabs'
published schema, so only the conversation id, agent id and a failure reason are read).
``post_call_audio`` (base64 MP3) is ignored and its audio left out of the stored payload.
ElevenLabs sends no in-call events.

Units: ``metadata.start_time_unix_secs`` and ``event_timestamp`` are epoch seconds,
``call_duration_secs`` and a turn's ``time_in_call_secs`` whole seconds; turn metrics'
``elapsed_time`` is seconds (converted to ms); ``metadata.cost`` is in ElevenLabs credits, which
are not money and are never converted: the USD total is ``metadata.cost_fiat``, and absent
without it; it splits into ``charging.llm_price`` (llm) and the platform price (platform).

Signature: ``ElevenLabs-Signature: t=<s>,v0=<hex>`` = HMAC-SHA256 of ``{t}.{body}`` with the
webhook's secret (ElevenLabs generates it; pasted into the connection). ElevenLabs' SDK only
rejects timestamps older than 30 minutes; here the window applies in both directions, every
``v0`` entry is tried, and the comparison is constant-time.

A conversation exported by ElevenLabs' API maps like ``post_call_transcription``.

Idempotency: ``{conversation_id}:{type}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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

name = "elevenlabs"
schemes: tuple[str, ...] = ("hmac",)
generates_secret = False

SIGNATURE_HEADER = "elevenlabs-signature"
TRANSCRIPTION = "post_call_transcription"
AUDIO = "post_call_audio"
INITIATION_FAILURE = "call_initiation_failure"

_STATUS = {
    "initiated": "initiated",
    "in-progress": "in-progress",
    # The call is over; only the analysis is still running.
    "processing": "completed",
    "done": "completed",
    "failed": "failed",
}
_ROLE = {"agent": "bot", "user": "human"}
# ``termination_reason`` is free text; only phrasings seen in ElevenLabs' payloads are mapped.
_NORMALISED = {"call ended by remote party": "human_ended_call"}
# Turn metrics (seconds) per provider type.
_METRICS = (
    ("convai_asr_trailing_service_latency", common.STT),
    ("convai_llm_service_ttfb", common.LLM),
    ("convai_tts_service_ttfb", common.TTS),
)


def verify(delivery: Delivery, credentials: Credentials, now: datetime) -> None:
    """Raises ``SignatureInvalid`` unless ``ElevenLabs-Signature`` signs ``t.body`` with one of
    the connection's secrets inside the time window."""
    pairs = signing.parse_pairs(signing.header(delivery, SIGNATURE_HEADER), SIGNATURE_HEADER)
    stamps = [value for key, value in pairs if key == "t"]
    digests = [value.lower() for key, value in pairs if key == "v0"]
    if len(stamps) != 1 or not digests:
        raise SignatureInvalid(f"malformed {SIGNATURE_HEADER} header")
    signed_at = signing.epoch_instant(stamps[0], SIGNATURE_HEADER, unit="s")
    signing.check_window(signed_at, now, credentials.timestamp_tolerance, SIGNATURE_HEADER)
    message = stamps[0].encode() + b"." + delivery.body
    if not signing.any_secret_matches(
        credentials.secrets, lambda secret: signing.hmac_hex(secret, message), digests
    ):
        raise SignatureInvalid(f"wrong signature in {SIGNATURE_HEADER} header")


def decode(delivery: Delivery) -> Any:
    return common.decode_json(delivery.body)


def as_webhook(payload: Any) -> Any:
    """A conversation as ElevenLabs' API exports it (``GET /v1/convai/conversations/{id}``: the
    ``data`` of ``post_call_transcription`` without its envelope) as that webhook. Anything else
    is returned as it is."""
    if not isinstance(payload, dict) or "type" in payload or "conversation_id" not in payload:
        return payload
    return {"type": TRANSCRIPTION, "data": payload}


def parse_payload(payload: Any) -> PlatformEvent:
    """Maps one webhook payload, or one conversation exported by ElevenLabs' API; see the module
    docstring for what is used."""
    stored = common.storable(payload)
    envelope = Fields(as_webhook(payload))
    event = envelope.text("type", required=True, max_length=100)
    data = envelope.obj("data", required=True)
    assert data is not None
    the_call_id = common.call_id(data, "conversation_id")
    key = f"{the_call_id}:{event}"
    if event == AUDIO:
        # Megabytes of audio nobody reads back from the stored payload.
        stored = common.storable({**envelope.data, "data": {**data.data, "full_audio": None}})
        return PlatformEvent(event, the_call_id, key, stored)
    if event == INITIATION_FAILURE:
        document, estimated = _failure(envelope, data, the_call_id)
        return PlatformEvent(event, the_call_id, key, stored, document, estimated)
    if event != TRANSCRIPTION:
        return PlatformEvent(event, the_call_id, key, stored)
    return PlatformEvent(event, the_call_id, key, stored, *_transcription(envelope, data))


def _agent(document: dict[str, Any], data: Fields) -> None:
    if agent_id := data.text("agent_id", max_length=100):
        agent: dict[str, Any] = {"model_id": agent_id}
        if agent_name := data.text("agent_name", max_length=200):
            agent["name"] = agent_name
        document["agent"] = agent


def _event_instant(envelope: Fields) -> datetime:
    # ElevenLabs' admin docs type it as a string, its examples as a number: both are read.
    stamp = envelope.numeric_text("event_timestamp", max_digits=12)
    if stamp is None:
        raise PayloadInvalid(envelope.at("event_timestamp"), "is required")
    return common.from_epoch(stamp, envelope.at("event_timestamp"), unit="s")


def _failure(envelope: Fields, data: Fields, the_call_id: str) -> tuple[dict[str, Any], bool]:
    # The call never started: the event's own time is the one instant there is.
    document: dict[str, Any] = {
        "call_id": the_call_id,
        "platform": name,
        "status": "failed",
        "start_time": common.iso(_event_instant(envelope)),
    }
    _agent(document, data)
    if reason := data.text("failure_reason", max_length=255):
        document["platform_end_reason"] = reason
    return document, True


def _transcription(envelope: Fields, data: Fields) -> tuple[dict[str, Any], bool]:
    metadata = data.obj("metadata") or Fields({}, data.at("metadata"))
    document: dict[str, Any] = {"call_id": data.text("conversation_id"), "platform": name}
    error = metadata.obj("error")
    status = _STATUS.get(data.text("status"), "completed")
    document["status"] = "failed" if error is not None and status == "completed" else status

    duration = metadata.number("call_duration_secs")
    if duration is not None and not 0 <= duration <= 2_147_483_647:
        raise PayloadInvalid(metadata.at("call_duration_secs"), "must be a number of seconds")
    started = metadata.number("start_time_unix_secs")
    estimated = started is None
    if started is not None:
        start = common.from_epoch(started, metadata.at("start_time_unix_secs"), unit="s")
    else:
        # Sent when the analysis is done, shortly after the call: its duration before then is
        # the best start the payload has.
        start = _event_instant(envelope) - timedelta(seconds=duration or 0)
    document["start_time"] = common.iso(start)
    if duration is not None:
        document["duration"] = round(duration)
        end = start + timedelta(seconds=duration)
        document["end_time"] = common.iso(common.in_range(end, metadata.at("call_duration_secs")))

    _agent(document, data)
    _phone_call(document, metadata)
    reason = metadata.text("termination_reason", max_length=255)
    if reason:
        document["platform_end_reason"] = reason
        if normalised := _NORMALISED.get(reason.strip().lower()):
            document["end_call_reason"] = normalised
    if error is not None:
        if message := error.text("reason", max_length=10_000):
            document["error_message"] = message
        document.setdefault("end_call_reason", "error")

    turns, actions, samples = _transcript(data)
    document["transcript"] = turns
    document["executed_actions"] = actions
    document["latencies"] = samples

    _cost(document, metadata)

    analysis = data.obj("analysis")
    variables: dict[str, Any] = {}
    if analysis is not None:
        document["judge_results"] = analysis.data
        verdict = analysis.text("call_successful")
        if verdict in ("success", "failure"):
            document["success"] = verdict == "success"
        results = analysis.obj("data_collection_results")
        if results is not None:
            for variable in results.data:
                result = results.obj(variable)
                if result is not None:
                    variables[variable[:200]] = result.raw("value")
    agent_key = document.get("agent", {}).get("model_id", name)
    document["collected_variables"] = {agent_key: variables} if variables else {}
    client_data = data.obj("conversation_initiation_client_data")
    dynamic = client_data.raw("dynamic_variables") if client_data is not None else None
    if isinstance(dynamic, dict):
        document["prompt_variables"] = dynamic
    return document, estimated


def _cost(document: dict[str, Any], metadata: Fields) -> None:
    """``cost_fiat`` (USD) is "the sum of the LLM price and the non-LLM platform price" (SDK):
    ``charging.llm_price`` is the first, ``charging.platform_price`` (else the rest) the second."""
    fiat = metadata.number("cost_fiat")
    if fiat is None:
        return
    path = metadata.at("cost_fiat")
    total = common.decimal_of(fiat, path)
    document["cost_usd"] = common.usd(total, path)
    charging = metadata.obj("charging")
    llm = charging.number("llm_price") if charging is not None else None
    if charging is None or llm is None:
        return
    llm_usd = common.decimal_of(llm, charging.at("llm_price"))
    platform = charging.number("platform_price")
    if platform is not None:
        platform_usd = common.decimal_of(platform, charging.at("platform_price"))
    else:
        platform_usd = total - llm_usd
    if llm_usd <= total and platform_usd >= 0:
        document["cost_breakdown"] = common.breakdown(
            [(common.LLM, llm_usd), (common.PLATFORM, platform_usd)], charging.at("llm_price")
        )


def _phone_call(document: dict[str, Any], metadata: Fields) -> None:
    phone_call = metadata.obj("phone_call")
    if phone_call is None:
        document["type_of_call"] = "widget"
        return
    document["channel"] = "phone"
    direction = phone_call.text("direction")
    ours, theirs = phone_call.text("agent_number"), phone_call.text("external_number")
    if direction in ("inbound", "outbound"):
        document["type_of_call"] = direction
    caller, callee = (ours, theirs) if direction == "outbound" else (theirs, ours)
    if caller:
        document["phone_number_from"] = common.phone(caller)
    if callee:
        document["phone_number_to"] = common.phone(callee)
    if ours:
        document["agent_phone_number"] = common.phone(ours)
    if theirs and (lead_number := common.lead_phone(theirs)):
        document["lead_phone_number"] = lead_number


def _transcript(
    data: Fields,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    turns: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for item in data.objects("transcript"):
        role = _ROLE.get(item.text("role"))
        if role is None:
            continue
        calls = item.objects("tool_calls")
        results = {r.text("request_id"): r for r in item.objects("tool_results")}
        turn_actions = [_action(call, results) for call in calls]
        actions.extend(turn_actions)
        text = item.text("message")
        if not text and turn_actions:
            # A turn that only called tools.
            role = "tool"
            text = "; ".join(f"{a['name']}({a.get('arguments') or ''})" for a in turn_actions)
        turn: dict[str, Any] = {"role": role, "text": text}
        start_ms = common.offset_ms(item.number("time_in_call_secs"))
        if start_ms is not None:
            turn["start_ms"] = start_ms
        turns.append(turn)
        samples.extend(_turn_latencies(item))
    return turns, actions, samples


def _action(call: Fields, results: dict[str, Fields]) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": call.text("tool_name", max_length=200) or "tool",
        "action_type": call.text("type", max_length=64) or "tool",
    }
    if (arguments := call.raw("params_as_json")) is not None:
        action["arguments"] = arguments
    request_id = call.text("request_id")
    if request_id:
        action["request_id"] = request_id
    result = results.get(request_id) if request_id else None
    if result is not None:
        action["result"] = result.raw("result_value")
        is_error = result.boolean("is_error")
        if is_error is not None:
            action["success"] = not is_error
        seconds = result.number("tool_latency_secs")
        if seconds is not None and 0 <= seconds <= 86_400:
            action["latency_ms"] = round(seconds * 1000, 3)
    return action


def _turn_latencies(item: Fields) -> list[dict[str, Any]]:
    metrics = item.obj("conversation_turn_metrics")
    if metrics is None:
        return []
    # ElevenLabs' SDK nests the metrics under ``metrics``; its docs example does not.
    named = metrics.obj("metrics") or metrics
    samples = []
    for key, provider_type in _METRICS:
        metric = named.obj(key)
        seconds = metric.number("elapsed_time") if metric is not None else None
        if seconds is None:
            continue
        provider = (
            metrics.text("convai_asr_provider")
            if provider_type == common.STT
            else metrics.text("convai_tts_model")
            if provider_type == common.TTS
            else ""
        )
        sample = common.latency(provider_type, provider or name, round(seconds * 1000, 3))
        if sample is not None:
            samples.append(sample)
    return samples
