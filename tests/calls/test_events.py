"""Activity events are written when things happen, once, whatever is re-sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calls.models import ActivityEvent, Lead
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db
URL = "/api/v1/calls"
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
END = datetime(2026, 3, 1, 10, 1, 53, tzinfo=UTC)
LEAD_TYPES = ("lead.created", "lead.qualified", "conversion.completed", "lead.score_changed")


def events(**filters):
    return list(
        ActivityEvent.objects.filter(**filters).order_by("type").values_list("type", "occurred_at")
    )


def test_new_call_writes_conversation_started_at_its_start(api_client):
    api_client.post(URL, call_doc(), format="json")

    assert events() == [("conversation.started", START)]
    event = ActivityEvent.objects.get()
    assert event.event_id.startswith("evt_")
    assert event.call.call_id == "c-1"


def test_handoff_event_at_call_end_written_once(api_client):
    api_client.post(URL, call_doc(), format="json")
    api_client.post(URL, call_doc(handoff=True), format="json")
    api_client.post(URL, call_doc(handoff=True, sentiment="negative"), format="json")

    assert events(type="conversation.handoff") == [("conversation.handoff", END)]


def test_high_value_intent_needs_confidence_of_point_eight(api_client):
    intents = [
        {"intent": "enterprise_pricing", "confidence": 0.94, "estimated_deal_size": 45000},
        {"intent": "small_talk", "confidence": 0.79},
    ]
    api_client.post(URL, call_doc(intents=intents), format="json")
    api_client.post(URL, call_doc(intents=intents, sentiment="neutral"), format="json")

    event = ActivityEvent.objects.get(type="intent.high_value")
    assert event.occurred_at == START
    assert event.metadata == {
        "intent": "enterprise_pricing",
        "confidence": 0.94,
        "estimatedDealSize": 45000.0,
    }


def test_lead_events_follow_the_funnel_once(api_client, tenant):
    lead = {"lead_id": "lead_1", "phone_number": "+14155552671", "status": "new", "score": 20}
    api_client.post(URL, call_doc("a", lead=lead), format="json")
    # The conversation's own event is linked to the lead too.
    assert {t for t, _ in events(lead__lead_id="lead_1")} == {
        "conversation.started",
        "lead.created",
    }

    # Skips straight to converted: qualified and converted are both written, score moved 44.
    converted = {**lead, "status": "converted", "score": 64}
    api_client.post(
        URL, call_doc("b", start_time="2026-03-03T09:00:00Z", lead=converted), format="json"
    )
    api_client.post(
        URL,
        call_doc("b", start_time="2026-03-03T09:00:00Z", lead=converted, sentiment="neutral"),
        format="json",
    )

    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert events(lead__lead_id="lead_1", type__in=LEAD_TYPES) == [
        ("conversion.completed", at),
        ("lead.created", START),
        ("lead.qualified", at),
        ("lead.score_changed", at),
    ]
    qualified = ActivityEvent.objects.get(type="lead.qualified")
    assert qualified.metadata == {
        "previousStatus": "new",
        "newStatus": "converted",
        "scoreChange": {"from": 20, "to": 64},
    }
    stored = Lead.objects.get(lead_id="lead_1")
    assert stored.qualified_at == stored.demo_booked_at == stored.converted_at == at


def test_small_score_moves_write_no_event(api_client):
    lead = {"lead_id": "lead_1", "phone_number": "+14155552671", "score": 50}
    api_client.post(URL, call_doc("a", lead=lead), format="json")
    api_client.post(URL, call_doc("b", lead={**lead, "score": 64}), format="json")

    assert not ActivityEvent.objects.filter(type="lead.score_changed").exists()
    assert Lead.objects.get().score == 64
