"""The copies and event keys of ``calls.denormalised``: what they hold, and that ingestion and the
demo generator write the same ones for the same call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calls.demo.writer import seed_demo
from calls.denormalised import (
    CallCopies,
    conversation_events,
    first_of_provider,
    lead_events,
    turn_count,
)
from calls.models import ActivityEvent, Call, Tenant
from calls.services import ingest_call_documents

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(minutes=2)


def copies(**overrides: Any) -> CallCopies:
    values: dict[str, Any] = {
        "call_pk": 7,
        "tenant_id": 3,
        "start_time": START,
        "agent_id": 11,
        "type_of_call": "outbound",
        "agent_name": "Jake",
    }
    values.update(overrides)
    return CallCopies(**values)


def started_key(**overrides: Any) -> list[str]:
    values: dict[str, Any] = {
        "call_id": "c-1",
        "created": True,
        "channel": "phone",
        "type_of_call": "outbound",
        "start_time": START,
        "end_time": END,
        "handoff": True,
        "intents": [("enterprise_pricing", 0.9, 45000)],
    }
    values.update(overrides)
    return [event.dedupe_key for event in conversation_events(**values)]


def lead_moves(**overrides: Any) -> list[tuple[str, str, dict[str, Any]]]:
    values: dict[str, Any] = {
        "lead_pk": 5,
        "created": False,
        "label": "Eddie",
        "source": "form",
        "channel": "phone",
        "old_status": "new",
        "status": "qualified",
        "old_score": 20,
        "score": 40,
        "at": START,
        "ref": "c-1",
    }
    values.update(overrides)
    return [(e.type, e.dedupe_key, e.metadata) for e in lead_events(**values)]


def test_first_of_provider_marks_each_providers_first_sample_only() -> None:
    providers = [("llm", "openai"), ("tts", "cartesia"), ("llm", "openai"), ("llm", "groq")]
    assert first_of_provider(providers) == [True, True, False, True]
    assert first_of_provider([]) == []


def test_latency_rows_carry_the_calls_start_and_first_of_provider() -> None:
    rows = copies().latencies([("llm", "openai", 300.0, 90), ("llm", "openai", 280.0, None)])
    assert rows == [
        (7, 3, START, 0, "llm", "openai", 300.0, 90, True),
        (7, 3, START, 1, "llm", "openai", 280.0, None, False),
    ]


def test_action_rows_copy_the_calls_start_agent_and_type() -> None:
    row = copies().action(2, "book_demo", "REAL_TIME_BOOKING", True, 480.0, {})
    assert row[:6] == (7, 3, START, 11, "outbound", 2)
    assert copies().action_copies() == {
        "start_time": START,
        "agent_id": 11,
        "type_of_call": "outbound",
    }


def test_error_rows_fall_back_to_the_calls_start_and_agent_name() -> None:
    at = START + timedelta(seconds=30)
    fallback = copies().error(0, None, "tts", "error", "boom", {}, None)
    own = copies().error(1, at, "tts", "error", "boom", {}, "Ava")
    assert (fallback[3], fallback[8]) == (START, "Jake")
    assert (own[3], own[8]) == (at, "Ava")


def test_children_follow_a_change_of_start_agent_or_type_only() -> None:
    base = copies().copied_by_children()
    assert copies(call_pk=8, agent_name="Ava").copied_by_children() == base
    assert copies(start_time=END).copied_by_children() != base
    assert copies(agent_id=12).copied_by_children() != base
    assert copies(type_of_call="inbound").copied_by_children() != base


def test_conversation_event_keys_are_stable_and_name_their_inputs() -> None:
    keys = started_key()
    assert keys == started_key()
    assert keys == [
        "conversation.started:c-1",
        "conversation.handoff:c-1",
        "intent.high_value:c-1:enterprise_pricing",
    ]
    assert set(started_key(call_id="c-2")).isdisjoint(keys)
    assert started_key(intents=[("demo_request", 0.95, None)])[2] != keys[2]
    # An update writes no second conversation.started; a weak intent writes nothing.
    assert started_key(created=False, handoff=False) == [keys[2]]
    assert started_key(intents=[("enterprise_pricing", 0.79, 45000)]) == keys[:2]


def test_a_handoff_happens_at_the_end_of_the_call_else_its_start() -> None:
    def handoff_at(end: datetime | None) -> datetime:
        (event,) = conversation_events(
            call_id="c-1",
            created=False,
            channel="phone",
            type_of_call="outbound",
            start_time=START,
            end_time=end,
            handoff=True,
        )
        return event.occurred_at

    assert handoff_at(END) == END
    assert handoff_at(None) == START


def test_lead_event_keys_name_the_lead_and_a_score_change_its_call() -> None:
    moved = lead_moves()
    assert moved == lead_moves()
    assert [key for _, key, _ in moved] == [
        "lead.qualified:5",
        "lead.score_changed:5:20:40:c-1",
    ]
    assert moved[0][2] == {
        "previousStatus": "new",
        "newStatus": "qualified",
        "scoreChange": {"from": 20, "to": 40},
    }
    # Another lead, another call or other scores are other events.
    assert lead_moves(lead_pk=6)[0][1] == "lead.qualified:6"
    assert lead_moves(ref="c-2")[1][1] == "lead.score_changed:5:20:40:c-2"
    assert lead_moves(ref="")[1][1] == f"lead.score_changed:5:20:40:{START.isoformat()}"
    # A move smaller than the threshold, or a first write, is no score change.
    assert [t for t, _, _ in lead_moves(score=34)] == ["lead.qualified"]
    assert [t for t, _, _ in lead_moves(created=True, old_status="new", status="converted")] == [
        "lead.created",
        "lead.qualified",
        "conversion.completed",
    ]


def test_turn_count_counts_the_stored_turns() -> None:
    assert turn_count([]) == 0
    assert turn_count([("bot", "Hi"), ("human", "Hello")]) == 2


def _as_document(call: Call) -> dict[str, Any]:
    """The call as a native document, children in stored order."""
    assert call.agent is not None
    return {
        "call_id": call.call_id,
        "model_id": call.agent.model_id,
        "agent": {"model_id": call.agent.model_id, "name": call.agent.name},
        "status": call.status,
        "type_of_call": call.type_of_call,
        "channel": call.channel,
        "start_time": call.start_time.isoformat(),
        "end_time": call.end_time.isoformat() if call.end_time else None,
        "handoff": call.handoff,
        "transcript": [
            {"role": t.role, "text": t.text, "start_ms": t.start_ms, "end_ms": t.end_ms}
            for t in call.turns.order_by("position")
        ],
        "latencies": [
            {
                "provider_type": s.provider_type,
                "provider_name": s.provider_name,
                "latency_ms": s.latency_ms,
                "tokens": s.tokens,
            }
            for s in call.latencies.order_by("position")
        ],
        "executed_actions": [
            {"name": a.name, "action_type": a.action_type, "success": a.success}
            for a in call.actions.order_by("position")
        ],
    }


def _copies_of(call: Call) -> dict[str, Any]:
    """What a call's rows copy, without primary keys (which differ between tenants)."""
    return {
        "turn_count": call.turn_count,
        "turns": call.turns.count(),
        "first_of_provider": list(
            call.latencies.order_by("position").values_list(
                "provider_name", "start_time", "first_of_provider"
            )
        ),
        "actions": list(
            call.actions.order_by("position").values_list(
                "name", "start_time", "agent__model_id", "type_of_call"
            )
        ),
        "events": sorted(
            ActivityEvent.objects.filter(call=call, lead=None).values_list(
                "type", "dedupe_key", "occurred_at", "description", "metadata"
            )
        ),
    }


@pytest.mark.django_db
def test_a_demo_call_ingested_again_gets_the_same_copies_and_event_keys(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    seed_demo(tenant=tenant, calls=200, days=5, seed=4, until=START)
    demo_calls = Call.objects.filter(
        tenant=tenant, status="completed", lead=None, intents=[]
    ).order_by("-handoff", "call_id")
    # A handed-off call has an extra action and an extra event to copy.
    demo_call = next(c for c in demo_calls if c.actions.exists() and c.turns.count() > 2)
    assert demo_call.latencies.filter(first_of_provider=False).exists()

    (outcome,) = ingest_call_documents(tenant=other_tenant, documents=[_as_document(demo_call)])

    assert outcome.outcome == "created"
    ingested = Call.objects.get(tenant=other_tenant, call_id=demo_call.call_id)
    assert _copies_of(ingested) == _copies_of(demo_call)
    assert ingested.turn_count > 2
