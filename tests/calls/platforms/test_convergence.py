"""Events of one call, delivered in any order and more than once, leave the call that in-order
delivery leaves: each event's document carries only what that event knows, and the upsert keeps
what a document leaves out and only moves a status forward."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from calls.models import Call, Tenant
from calls.platforms import PLATFORMS, PlatformEvent
from calls.services import ingest_call_documents
from tests.calls.platforms.helpers import payload

# Call columns a platform document sets, plus the new ones where the model has them.
FIELDS = (
    "status",
    "start_time",
    "end_time",
    "duration",
    "end_call_reason",
    "type_of_call",
    "channel",
    "phone_number_from",
    "phone_number_to",
    "agent_phone_number",
    "lead_phone_number",
    "recording_url",
    "sentiment",
    "success",
    "handoff",
    "judge_results",
    "prompt_variables",
    "turn_count",
    "platform",
    "platform_end_reason",
    "cost_usd",
    "cost_breakdown",
)


def vapi_ringing() -> dict[str, Any]:
    message = payload("vapi-status-update")
    message["message"]["status"] = "ringing"
    message["message"]["call"]["status"] = "ringing"
    del message["message"]["call"]["startedAt"]
    return message


SEQUENCES = {
    "vapi": [
        vapi_ringing(),
        payload("vapi-status-update"),
        payload("vapi-status-update-ended"),
        payload("vapi-end-of-call-report"),
    ],
    "retell": [
        payload("retell-call_started"),
        payload("retell-call_ended"),
        payload("retell-call_analyzed"),
    ],
    "twilio": [
        payload("twilio-status_callback-ringing"),
        payload("twilio-status_callback-answered"),
        payload("twilio-status_callback-completed"),
    ],
    "elevenlabs": [
        payload("elevenlabs-post_call_audio"),
        payload("elevenlabs-post_call_transcription"),
    ],
    "bland": [payload("bland-post_call")],
}


def deliver(tenant: Tenant, event: PlatformEvent) -> None:
    """What the receiver does with a mapped event: upserts its document, except that a start the
    event only estimates does not replace the start of a call already stored."""
    if event.document is None:
        return
    document = dict(event.document)
    if event.start_time_estimated:
        stored = Call.objects.filter(tenant=tenant, call_id=event.call_id).first()
        if stored is not None:
            document["start_time"] = stored.start_time.isoformat()
    ingest_call_documents(tenant=tenant, documents=[document])


def snapshot(tenant: Tenant) -> dict[str, Any]:
    [call] = Call.objects.filter(tenant=tenant)
    state: dict[str, Any] = {f: getattr(call, f) for f in FIELDS if hasattr(call, f)}
    state["agent"] = (call.agent.model_id, call.agent.name) if call.agent else None
    state["turns"] = list(
        call.turns.order_by("position").values_list("role", "text", "start_ms", "end_ms")
    )
    state["variables"] = sorted(call.variables.values_list("agent_key", "name", "value"), key=str)
    state["actions"] = list(
        call.actions.order_by("position").values_list("name", "success", "payload")
    )
    state["latencies"] = list(
        call.latencies.order_by("position").values_list(
            "provider_type", "provider_name", "latency_ms"
        )
    )
    return state


def tenant_named(slug: str) -> Tenant:
    return Tenant.objects.create(name=slug, slug=slug, timezone="UTC")


@pytest.mark.django_db
@pytest.mark.parametrize("platform", list(SEQUENCES))
def test_any_order_and_resends_converge(platform: str) -> None:
    module = PLATFORMS[platform]
    events = [module.parse_payload(p) for p in SEQUENCES[platform]]
    in_order = tenant_named("in-order")
    for event in events:
        deliver(in_order, event)
    expected = snapshot(in_order)
    assert expected["status"] in ("completed", "failed")

    for number, order in enumerate(itertools.permutations(events)):
        tenant = tenant_named(f"order-{number}")
        # Every event twice, the resend straight after or at the end.
        for event in (*order, *order[::2]):
            deliver(tenant, event)
        assert snapshot(tenant) == expected, [e.idempotency_key for e in order]


@pytest.mark.django_db
def test_vapi_late_in_progress_update_leaves_the_report_alone() -> None:
    tenant = tenant_named("late")
    deliver(tenant, PLATFORMS["vapi"].parse_payload(payload("vapi-end-of-call-report")))
    before = snapshot(tenant)
    deliver(tenant, PLATFORMS["vapi"].parse_payload(payload("vapi-status-update")))
    assert snapshot(tenant) == before
    assert before["status"] == "completed" and len(before["turns"]) == 7


@pytest.mark.django_db
def test_retell_call_ended_after_call_analyzed_keeps_the_analysis() -> None:
    tenant = tenant_named("retell-late")
    deliver(tenant, PLATFORMS["retell"].parse_payload(payload("retell-call_analyzed")))
    deliver(tenant, PLATFORMS["retell"].parse_payload(payload("retell-call_ended")))
    state = snapshot(tenant)
    assert state["sentiment"] == "positive" and state["success"] is True
    assert {name for _, name, _ in state["variables"]} == {
        "last_node_name",
        "appointment_time",
        "appointment_booked",
    }


@pytest.mark.django_db
def test_twilio_start_is_the_answer_whatever_arrives_first() -> None:
    for first in ("ringing", "completed"):
        tenant = tenant_named(f"twilio-{first}")
        deliver(
            tenant, PLATFORMS["twilio"].parse_payload(payload(f"twilio-status_callback-{first}"))
        )
        deliver(
            tenant, PLATFORMS["twilio"].parse_payload(payload("twilio-status_callback-answered"))
        )
        deliver(
            tenant, PLATFORMS["twilio"].parse_payload(payload("twilio-status_callback-ringing"))
        )
        call = Call.objects.get(tenant=tenant)
        assert call.start_time.isoformat() == "2018-03-25T09:52:30+00:00"
