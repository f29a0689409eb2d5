"""POST /api/v1/calls: upsert rules, shapes, all-or-nothing batches and body limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from calls.models import (
    ActivityEvent,
    Agent,
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    TranscriptTurn,
    Workflow,
    rows_written,
)
from calls.services import ingest_call_documents
from tests.calls.factories import SYNTHFLOW_DOC, call_doc

URL = "/api/v1/calls"
pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post(URL, body, format="json")


def test_create_stores_call_and_children(api_client, tenant):
    response = post(api_client, call_doc())

    assert response.status_code == 201
    assert response.json() == {
        "results": [{"call_id": "c-1", "outcome": "created"}],
        "created": 1,
        "updated": 0,
        "unchanged": 0,
    }
    call = Call.objects.get(tenant=tenant, call_id="c-1")
    assert call.agent == Agent.objects.get(tenant=tenant, model_id="agent-1")
    assert call.agent.name == "Jake"
    assert call.workflow == Workflow.objects.get(tenant=tenant, slug="daily-call")
    assert call.start_time == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert call.duration == 113  # end_time - start_time when no duration is given
    assert [(t.position, t.role, t.text, t.start_ms) for t in call.turns.all()] == [
        (0, "bot", "Hi, Eddie!", 0),
        (1, "human", "Hello.", 1200),
    ]
    variable = CollectedVariable.objects.get(call=call)
    assert (variable.agent_key, variable.name, variable.value) == (
        "agent_123",
        "user_name",
        "Julian",
    )
    action = ExecutedAction.objects.get(call=call)
    assert (action.name, action.action_type, action.success, action.latency_ms) == (
        "book_meeting",
        "REAL_TIME_BOOKING",
        True,
        420,
    )
    # Copies of the call's, for analytics reads without a join.
    assert (action.tenant_id, action.start_time, action.agent_id, action.type_of_call) == (
        tenant.pk,
        call.start_time,
        call.agent_id,
        "outbound",
    )
    samples = LatencySample.objects.filter(call=call).order_by("position")
    assert [(s.provider_type, s.latency_ms, s.start_time) for s in samples] == [
        ("llm", 280.3, call.start_time),
        ("tts", 150.0, call.start_time),
    ]
    error = ErrorLog.objects.get(call=call)
    assert (error.tenant_id, error.service, error.level, error.details) == (
        tenant.pk,
        "tts",
        "warning",
        {"ttfb_ms": 1900},
    )
    assert error.agent_name == "Jake"


def test_synthflow_shape_is_accepted(api_client, tenant):
    response = post(api_client, SYNTHFLOW_DOC)

    assert response.status_code == 201, response.json()
    call = Call.objects.get(tenant=tenant, call_id=SYNTHFLOW_DOC["call_id"])
    assert call.start_time == datetime.fromtimestamp(1722260515, tz=UTC)
    assert call.agent.model_id == SYNTHFLOW_DOC["model_id"]
    assert call.custom_end_call_reason == "Customer is being abusive"
    assert call.telephony_ringing_duration == 15000
    turns = list(call.turns.values_list("role", "text"))
    assert turns == [
        ("bot", "Hey, you've called to [company]."),
        ("human", "Hello.\nI need help."),  # a line without a speaker continues the turn
        ("bot", "Sure."),
    ]
    action = call.actions.get()
    assert action.name == "extract_name"
    assert action.payload["return_value"] == {"name": "Eddie"}
    assert call.variables.count() == 2


def test_resending_the_same_document_changes_nothing(api_client, tenant):
    post(api_client, call_doc())
    call = Call.objects.get(call_id="c-1")
    turn_ids = set(TranscriptTurn.objects.values_list("id", flat=True))
    events = ActivityEvent.objects.count()

    response = post(api_client, call_doc())

    assert response.status_code == 200
    assert response.json()["results"] == [{"call_id": "c-1", "outcome": "unchanged"}]
    call_after = Call.objects.get(call_id="c-1")
    assert call_after.updated_at == call.updated_at
    assert set(TranscriptTurn.objects.values_list("id", flat=True)) == turn_ids
    assert ActivityEvent.objects.count() == events


def test_later_document_updates_only_the_fields_it_carries(api_client, tenant):
    post(api_client, call_doc())

    response = post(
        api_client,
        {
            "call_id": "c-1",
            "status": "completed",
            "start_time": "2026-03-01T10:00:00Z",
            "sentiment": "negative",
        },
    )

    assert response.json()["results"][0]["outcome"] == "updated"
    call = Call.objects.get(call_id="c-1")
    assert call.sentiment == "negative"
    assert call.lead_name == "Eddie"  # left out: kept
    assert call.turns.count() == 2  # transcript left out: kept


def test_status_only_moves_forward(api_client):
    post(api_client, call_doc(status="in-progress", end_time=None))
    post(api_client, call_doc(status="completed"))

    response = post(api_client, call_doc(status="ringing", sentiment="neutral"))

    call = Call.objects.get(call_id="c-1")
    assert call.status == "completed"
    assert call.sentiment == "neutral"  # the rest of the document still applies
    assert response.json()["results"][0]["outcome"] == "updated"


def test_a_resend_reads_only_the_stored_hashes_and_a_change_reads_the_changed_call(tenant):
    ingest_call_documents(tenant=tenant, documents=[call_doc("c-1"), call_doc("c-2")])

    def call_reads(documents: list[dict]) -> tuple[list[str], list[str]]:
        with CaptureQueriesContext(connection) as queries:
            outcomes = ingest_call_documents(tenant=tenant, documents=documents)
        selects = [
            q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "calls_call"')
        ]
        return [o.outcome for o in outcomes], selects

    outcomes, selects = call_reads([call_doc("c-1"), call_doc("c-2")])
    assert outcomes == ["unchanged", "unchanged"]
    # One read of the hashes, locked; no call row read whole.
    assert len(selects) == 1 and '"calls_call"."extra"' not in selects[0]

    outcomes, selects = call_reads([call_doc("c-1"), call_doc("c-2", status="failed")])
    assert outcomes == ["unchanged", "updated"]
    # The hashes, then the changed call whole, and nothing per column.
    assert len(selects) == 2 and '"calls_call"."extra"' in selects[1]
    assert Call.objects.get(call_id="c-2").status == "failed"


def test_backward_status_alone_is_unchanged(api_client):
    post(api_client, call_doc(status="completed"))

    response = post(api_client, call_doc(status="ringing"))

    assert response.json()["results"][0]["outcome"] == "unchanged"
    assert Call.objects.get(call_id="c-1").status == "completed"


def test_child_lists_sent_again_replace_the_old(api_client):
    post(api_client, call_doc())

    post(
        api_client,
        call_doc(
            transcript=[{"role": "human", "text": "Only this."}],
            latencies=[{"provider_type": "stt", "latency_ms": 90}],
            errors=[],
        ),
    )

    call = Call.objects.get(call_id="c-1")
    assert list(call.turns.values_list("role", "text")) == [("human", "Only this.")]
    assert list(call.latencies.values_list("provider_type", flat=True)) == ["stt"]
    assert not ErrorLog.objects.filter(call=call).exists()
    assert call.variables.count() == 1  # not sent again: kept


def test_moving_start_time_moves_latency_samples(api_client):
    post(api_client, call_doc())

    post(
        api_client, {"call_id": "c-1", "status": "completed", "start_time": "2026-03-02T08:00:00Z"}
    )

    starts = set(LatencySample.objects.values_list("start_time", flat=True))
    assert starts == {datetime(2026, 3, 2, 8, 0, tzinfo=UTC)}


def test_invalid_document_rejects_the_whole_batch(api_client, tenant):
    post(api_client, call_doc("existing", sentiment="positive"))
    batch = {
        "calls": [
            call_doc("good"),
            call_doc("existing", sentiment="negative"),
            {"call_id": "bad", "status": "teleported", "start_time": "yesterday"},
        ]
    }

    response = post(api_client, batch)

    assert response.status_code == 400
    body = response.json()
    assert "nothing was written" in body["detail"]
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(2, "status"), (2, "start_time")}
    assert not Call.objects.filter(call_id="good").exists()
    assert Call.objects.get(call_id="existing").sentiment == "positive"


def test_missing_required_fields_are_named(api_client):
    response = post(api_client, {"calls": [{"status": "completed"}]})

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"call_id", "start_time"}


@pytest.mark.parametrize(
    "body",
    [
        {"calls": "nope"},
        {"calls": []},
        {"calls": [1, 2]},
    ],
)
def test_malformed_batches_are_400(api_client, body):
    response = post(api_client, body)

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    assert Call.objects.count() == 0


def test_body_that_is_not_an_object_is_400(api_client):
    response = api_client.post(URL, "[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


@override_settings(MAX_CALLS_PER_BATCH=3)
def test_batch_over_the_limit_is_400(api_client):
    response = post(api_client, {"calls": [call_doc(f"c-{i}") for i in range(4)]})

    assert response.status_code == 400
    assert "at most 3" in response.json()["detail"]
    assert Call.objects.count() == 0


def test_malformed_json_is_400_json(api_client):
    response = api_client.post(URL, '{"call_id": "x",', content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@override_settings(MAX_REQUEST_BODY_BYTES=1000)
def test_body_over_the_limit_is_413_json(api_client):
    body = json.dumps(call_doc(error_message="x" * 2000))

    response = api_client.post(URL, body, content_type="application/json")

    assert response.status_code == 413
    assert "exceeds 1000 bytes" in response.json()["detail"]
    assert Call.objects.count() == 0


def test_nul_characters_are_rejected_not_500(api_client):
    response = post(api_client, call_doc(lead_name="Ed\x00die", prompt_variables={"a": "b\x00"}))

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} >= {"lead_name"}


def test_out_of_range_values_are_400(api_client):
    response = post(
        api_client, call_doc(duration=-1, start_time=99999999999999999, telephony_duration=2**40)
    )

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"duration", "start_time", "telephony_duration"}


def test_same_call_twice_in_one_batch_keeps_the_last(api_client):
    first = call_doc(sentiment="positive")
    second = call_doc(sentiment="negative", transcript=[{"role": "bot", "text": "Bye"}])

    response = post(api_client, {"calls": [first, second]})

    assert response.status_code == 201
    call = Call.objects.get(call_id="c-1")
    assert call.sentiment == "negative"
    assert list(call.turns.values_list("text", flat=True)) == ["Bye"]


def test_same_call_id_under_two_tenants_is_two_calls(
    api_client, other_api_client, tenant, other_tenant
):
    post(api_client, call_doc(sentiment="positive"))
    response = post(other_api_client, call_doc(sentiment="negative"))

    assert response.json()["results"][0]["outcome"] == "created"
    assert Call.objects.get(tenant=tenant, call_id="c-1").sentiment == "positive"
    assert Call.objects.get(tenant=other_tenant, call_id="c-1").sentiment == "negative"
    assert Agent.objects.filter(model_id="agent-1").count() == 2


def test_rows_written_signal_carries_old_and_new_start(api_client, tenant):
    post(api_client, call_doc())
    received = []

    def receiver(sender, tenant, instants, **kwargs):
        received.append((tenant.pk, instants))

    rows_written.connect(receiver)
    try:
        post(
            api_client,
            {"call_id": "c-1", "status": "completed", "start_time": "2026-03-05T00:30:00Z"},
        )
        post(
            api_client,
            {"call_id": "c-1", "status": "completed", "start_time": "2026-03-05T00:30:00Z"},
        )  # unchanged: no signal
    finally:
        rows_written.disconnect(receiver)

    assert received == [
        (tenant.pk, {datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 5, 0, 30, tzinfo=UTC)})
    ]


def test_rows_written_signal_carries_the_timestamps_of_errors_replaced_and_written(
    api_client, tenant
):
    def errors(*stamps):
        return [
            {"timestamp": stamp, "service": "llm", "level": "error", "message": "timeout"}
            for stamp in stamps
        ]

    assert post(api_client, call_doc(errors=errors("2026-03-01T11:59:00Z"))).status_code == 201
    received = []

    def receiver(sender, tenant, instants, **kwargs):
        received.append(instants)

    rows_written.connect(receiver)
    try:
        response = post(api_client, call_doc(errors=errors("2026-03-01T13:05:00Z")))
    finally:
        rows_written.disconnect(receiver)

    # The call started at 10:00; its errors, counted by their own timestamps, moved from the
    # 11:00 hour to the 13:00 hour: both hours changed.
    assert response.json()["updated"] == 1
    assert len(received) == 1
    assert {
        datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
        datetime(2026, 3, 1, 13, 5, tzinfo=UTC),
    } <= received[0]


def test_call_with_phone_links_existing_lead_without_creating_one(api_client, tenant):
    post(api_client, call_doc("first"))
    assert Lead.objects.count() == 0  # a bare phone never creates a lead

    lead = Lead.objects.create(tenant=tenant, lead_id="lead_X", phone_number="+4915758658647")
    post(api_client, call_doc("second"))

    assert Call.objects.get(call_id="second").lead == lead


def test_kept_children_follow_the_calls_start_agent_and_type(api_client, tenant):
    post(api_client, call_doc())
    # The same actions and latencies, the call moved to another start, agent and type.
    moved = call_doc(
        start_time="2026-03-04T08:00:00Z",
        end_time="2026-03-04T08:01:00Z",
        model_id="agent-2",
        agent={"model_id": "agent-2", "name": "Ann", "type": "inbound"},
        type_of_call="inbound",
    )
    assert post(api_client, moved).json()["updated"] == 1

    call = Call.objects.get(tenant=tenant, call_id="c-1")
    assert call.agent.model_id == "agent-2"
    action = ExecutedAction.objects.get(call=call)
    assert (action.start_time, action.agent_id, action.type_of_call) == (
        datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
        call.agent_id,
        "inbound",
    )
    assert {s.start_time for s in LatencySample.objects.filter(call=call)} == {call.start_time}

    # A type change alone moves the copies too.
    assert post(api_client, {**moved, "type_of_call": "outbound"}).json()["updated"] == 1
    assert ExecutedAction.objects.get(call=call).type_of_call == "outbound"


def test_turn_count_follows_the_stored_transcript(api_client, tenant):
    three = [{"role": "bot", "text": f"t{i}"} for i in range(3)]
    post(api_client, call_doc(transcript=three))
    call = Call.objects.get(tenant=tenant, call_id="c-1")
    assert call.turn_count == 3 == call.turns.count()

    # A new transcript replaces the turns and their count.
    post(api_client, call_doc(transcript=three[:1]))
    call.refresh_from_db()
    assert call.turn_count == 1 == call.turns.count()

    # A document without a transcript leaves both alone.
    doc = call_doc(status="completed", duration=120)
    del doc["transcript"]
    assert post(api_client, doc).json()["updated"] == 1
    call.refresh_from_db()
    assert call.turn_count == 1 == call.turns.count()

    # An empty transcript empties both.
    post(api_client, call_doc(transcript=[]))
    call.refresh_from_db()
    assert call.turn_count == 0 == call.turns.count()


def test_each_calls_first_sample_of_a_provider_is_marked(api_client, tenant):
    def sample(kind: str, name: str) -> dict[str, object]:
        return {"provider_type": kind, "provider_name": name, "latency_ms": 100}

    post(
        api_client,
        call_doc(
            latencies=[
                sample("llm", "a"),
                sample("llm", "a"),
                sample("tts", "a"),
                sample("llm", "b"),
            ]
        ),
    )
    post(api_client, call_doc("c-2", latencies=[sample("llm", "a")]))

    flags = list(
        LatencySample.objects.order_by("call__call_id", "position").values_list(
            "call__call_id", "first_of_provider"
        )
    )
    assert flags == [("c-1", True), ("c-1", False), ("c-1", True), ("c-1", True), ("c-2", True)]


@pytest.mark.postgres
def test_new_calls_written_with_copy_have_their_keys_times_and_children(tenant):
    before = Call.objects.count()

    ingest_call_documents(tenant=tenant, documents=[call_doc("c-1"), call_doc("c-2")])

    calls = list(Call.objects.filter(tenant=tenant).order_by("call_id"))
    assert Call.objects.count() == before + 2
    assert [c.call_id for c in calls] == ["c-1", "c-2"]
    for call in calls:
        # What auto_now_add and auto_now set through save() or bulk_create.
        assert call.created_at is not None and call.created_at == call.updated_at
        assert call.turns.count() == call.turn_count > 0
    # The keys came from the table's sequence: the next call takes a key after them.
    ingest_call_documents(tenant=tenant, documents=[call_doc("c-3")])
    assert Call.objects.get(tenant=tenant, call_id="c-3").pk > max(c.pk for c in calls)
