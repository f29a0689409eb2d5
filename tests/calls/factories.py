"""Builders for call documents used across tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def call_doc(call_id: str = "c-1", **overrides: Any) -> dict[str, Any]:
    """A complete native call document; ``overrides`` replace or add keys."""
    doc: dict[str, Any] = {
        "call_id": call_id,
        "model_id": "agent-1",
        "agent": {"model_id": "agent-1", "name": "Jake", "type": "outbound"},
        "workflow": {"slug": "daily-call", "name": "Daily Health Check"},
        "status": "completed",
        "type_of_call": "outbound",
        "channel": "phone",
        "start_time": "2026-03-01T10:00:00Z",
        "end_time": "2026-03-01T10:01:53Z",
        "end_call_reason": "agent_goodbye",
        "lead_phone_number": "+4915758658647",
        "lead_name": "Eddie",
        "transcript": [
            {"role": "bot", "text": "Hi, Eddie!", "start_ms": 0, "end_ms": 900},
            {"role": "human", "text": "Hello.", "start_ms": 1200, "end_ms": 1700},
        ],
        "collected_variables": {"agent_123": {"user_name": {"value": "Julian", "collected": True}}},
        "executed_actions": [
            {
                "name": "book_meeting",
                "action_type": "REAL_TIME_BOOKING",
                "success": True,
                "latency_ms": 420,
            }
        ],
        "latencies": [
            {"provider_type": "llm", "provider_name": "openai", "latency_ms": 280.3, "tokens": 120},
            {"provider_type": "tts", "provider_name": "elevenlabs", "latency_ms": 150},
        ],
        "errors": [
            {
                "timestamp": "2026-03-01T10:00:30Z",
                "service": "tts",
                "level": "warning",
                "message": "Slow first byte",
                "details": {"ttfb_ms": 1900},
            }
        ],
        "sentiment": "positive",
        "success": True,
        "handoff": False,
        "total_tokens": 1234,
        "response_time_ms": 950,
    }
    doc.update(overrides)
    return doc


SYNTHFLOW_DOC: dict[str, Any] = {
    "call_id": "1725527007259x327898249603432960",
    "model_id": "1725526325346x892123579587048600",
    "campaign_type": "live",
    "phone_number_from": "+11234567890",
    "phone_number_to": "+1098765432",
    "name": "",
    "transcript": "bot: Hey, you've called to [company].\nhuman: Hello.\nI need help.\nbot: Sure.",
    "duration": 108,
    "recording_url": "https://api.twilio.com/Recordings/RE68bd",
    "end_call_reason": "human_pick_up_cut_off",
    "custom_end_call_reason": "Customer is being abusive",
    "error_message": "",
    "executed_actions": {
        "extract_name": {
            "name": "extract_name",
            "action_type": "extract_info_action_type",
            "description": "Get the caller's name",
            "error_message": None,
            "return_value": {"name": "Eddie"},
        }
    },
    "prompt_variables": {},
    "type_of_call": "inbound",
    "start_time": "1722260515000",
    "timezone": "Europe/Madrid",
    "telephony_hangup": "caller",
    "telephony_disconnect_reason": "callee_hangup",
    "telephony_duration": 66000,
    "telephony_ringing_duration": 15000,
    "status": "completed",
    "collected_variables": {
        "agent_123": {
            "user_name": {"value": "Julian", "collected": True},
            "appointment_date": {"value": {}, "collected": True},
        }
    },
}


TRANSCRIPT_BASE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def transcript_doc(call_id: str, minutes: int, *lines: str) -> dict[str, Any]:
    """A call starting ``minutes`` after ``TRANSCRIPT_BASE`` whose transcript is ``lines``,
    bot and human taking turns."""
    return call_doc(
        call_id,
        start_time=(TRANSCRIPT_BASE + timedelta(minutes=minutes)).isoformat(),
        end_time=(TRANSCRIPT_BASE + timedelta(minutes=minutes, seconds=30)).isoformat(),
        transcript=[
            {"role": "bot" if i % 2 == 0 else "human", "text": line} for i, line in enumerate(lines)
        ],
    )
