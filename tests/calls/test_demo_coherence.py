"""The demo data tells coherent stories: every agent is one persona (a name, a business, a use
case) and says so in its calls, a call lasts past its last turn, latency samples belong to the
agent's replies, the variables a call collects are what its caller said, every ended call has a
cost split into its components, a fresh demo runs up to now, and the recorded conversations'
calls play shipped audio whose turns are where the transcript says."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command

from calls.demo.catalogue import RECORDED_CONVERSATIONS, WORKFLOWS
from calls.demo.recordings import recording_url
from calls.demo.writer import seed_demo
from calls.enums import CostComponent
from calls.models import (
    Call,
    CollectedVariable,
    LatencySample,
    Lead,
    Tenant,
    TranscriptTurn,
    agent_replies,
)
from config.formatting import format_usd

pytestmark = pytest.mark.django_db

UNTIL = datetime(2026, 3, 1, tzinfo=UTC)
BY_SLUG = {w.slug: w for w in WORKFLOWS}


@pytest.fixture(params=[1, 3], ids=["seed 1", "seed 3"])
def demo(request: pytest.FixtureRequest) -> Tenant:
    tenant = Tenant.objects.create(name="Demo", slug="demo", timezone="Europe/Berlin")
    seed_demo(tenant=tenant, calls=1000, days=20, seed=request.param, until=UNTIL)
    return tenant


def turns_by_call(tenant: Tenant) -> dict[int, list[TranscriptTurn]]:
    turns: dict[int, list[TranscriptTurn]] = defaultdict(list)
    for turn in TranscriptTurn.objects.filter(tenant=tenant).order_by("call_id", "position"):
        turns[turn.call_id].append(turn)
    return turns


def test_every_call_ends_after_its_last_turn(demo: Tenant) -> None:
    turns = turns_by_call(demo)
    calls = Call.objects.filter(tenant=demo).values_list("pk", "status", "duration")
    checked = 0
    for pk, status, duration in calls:
        if not turns[pk]:
            continue
        starts = [t.start_ms for t in turns[pk]]
        ends = [t.end_ms for t in turns[pk]]
        assert None not in starts and None not in ends, pk
        assert starts == sorted(starts), pk
        assert all(s < e for s, e in zip(starts, ends, strict=True)), pk
        if status == "in-progress":
            assert duration is None
            continue
        assert duration is not None
        assert max(starts) < duration * 1000, (pk, max(starts), duration)
        assert max(ends) <= duration * 1000, (pk, max(ends), duration)
        checked += 1
    assert checked > 500


def test_every_agent_is_one_persona_and_says_who_it_is(demo: Tenant) -> None:
    calls = Call.objects.filter(tenant=demo).select_related("agent", "workflow")
    workflows_of: dict[str, set[str]] = defaultdict(set)
    turns = turns_by_call(demo)
    spoke = 0
    for call in calls:
        assert call.agent is not None and call.workflow is not None
        workflows_of[call.agent.name].add(call.workflow.slug)
        spec = BY_SLUG[call.workflow.slug]
        # An outbound use case calls out, an inbound one answers, a chat one chats.
        assert call.type_of_call == call.agent.type == spec.preferred_type
        opening = next((t.text for t in turns[call.pk] if t.role == "bot"), None)
        if opening is None:
            continue
        assert call.agent.name in opening, (call.agent.name, opening)
        assert spec.company in opening, (spec.company, opening)
        spoke += 1
    assert spoke > 500
    # One use case per agent, and every workflow's persona runs it.
    assert all(len(slugs) == 1 for slugs in workflows_of.values()), workflows_of
    for name, (slug,) in workflows_of.items():
        if name == BY_SLUG[slug].agent:
            continue
        assert name not in {w.agent for w in WORKFLOWS}, name
    personas = {BY_SLUG[slug].agent for (slug,) in workflows_of.values()}
    assert personas <= set(workflows_of)


def test_leads_are_called_by_the_sales_agents(demo: Tenant) -> None:
    slugs = set(
        Call.objects.filter(tenant=demo, lead__isnull=False).values_list(
            "workflow__slug", flat=True
        )
    )
    assert Lead.objects.filter(tenant=demo).exists()
    assert slugs == {"lead-qualification"}


def test_latency_samples_belong_to_the_agents_replies(demo: Tenant) -> None:
    turns = turns_by_call(demo)
    samples: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for call_pk, provider_type in LatencySample.objects.filter(tenant=demo).values_list(
        "call_id", "provider_type"
    ):
        samples[call_pk][provider_type] += 1
    assert samples
    for call_pk, per_type in samples.items():
        replies = agent_replies((t.position, t.role, t.start_ms) for t in turns[call_pk])
        # The n-th sample of each provider type is the n-th reply's: none is left without one.
        assert set(per_type) == {"stt", "llm", "tts"}, per_type
        assert len(set(per_type.values())) == 1, per_type
        assert 1 <= max(per_type.values()) <= len(replies), (call_pk, per_type, len(replies))


# --- Collected variables follow the transcript ----------------------------------------------

# Read off each script: a line its caller (or agent) says, and what that makes of each variable
# the conversation brings up (a value it must equal, or a test it must pass). Variables of the
# workflow not named here are not brought up, so not collected.
Said = dict[str, Callable[[Any], bool]]


def equals(expected: Any) -> Callable[[Any], bool]:
    return lambda value: value == expected


SAID: dict[tuple[str, int], tuple[str, Said]] = {
    ("lead-qualification", 0): (
        "Around forty agents in our support center.",
        {
            "team_size": equals(40),
            "current_solution": lambda v: "IVR" in v and "manual callbacks" in v,
            "timeline": lambda v: "two months" in v,
        },
    ),
    ("lead-qualification", 1): (
        "We need pricing for about two hundred seats.",
        {"team_size": equals(200), "budget": equals(50000)},
    ),
    ("lead-qualification", 2): (
        "we are a very small team",
        {"team_size": lambda v: 1 <= v <= 10, "timeline": equals("unknown")},
    ),
    ("appointment-booking", 0): (
        "2:15 works for me.",
        {
            "appointment_slot": equals("Tuesday 2:15 PM"),
            "appointment_confirmed": equals(True),
            "reminder_channel": equals("email"),
        },
    ),
    ("appointment-booking", 1): (
        "Let's do 11.",
        {"appointment_slot": equals("Friday 11:00 AM"), "appointment_confirmed": equals(True)},
    ),
    ("appointment-booking", 2): (
        "can you call me later?",
        {"appointment_confirmed": equals(False)},
    ),
    ("customer-support", 0): (
        "I can't log in to my account",
        {"issue_type": equals("login"), "resolved": equals(True), "account_verified": equals(True)},
    ),
    ("customer-support", 1): (
        "I was charged twice",
        {
            "issue_type": equals("billing"),
            "resolved": equals(False),  # handed to a billing specialist
            "account_verified": equals(True),
        },
    ),
    ("customer-support", 2): (
        "change the delivery address",
        {
            "issue_type": equals("order change"),
            "resolved": equals(True),
            "account_verified": equals(True),
        },
    ),
    ("daily-call", 0): (
        "A little headache last night",
        {
            "feeling": equals("good"),
            "medication_taken": equals(True),
            "symptoms": equals("headache"),
            "sleep_hours": equals(7),
        },
    ),
    ("daily-call", 1): (
        "I've been feeling short of breath.",
        {"feeling": equals("unwell"), "symptoms": equals("short of breath")},
    ),
    ("payment-reminder", 0): (
        "Your payment of 89 dollars",
        {
            "amount_due": equals(89),
            "promise_to_pay": equals(True),
            "payment_link_sent": equals(True),
        },
    ),
    ("payment-reminder", 1): (
        "I already paid it yesterday.",
        {"promise_to_pay": equals(False), "payment_link_sent": equals(False)},
    ),
    ("order-status", 0): (
        "It's 78123.",
        {"order_number": equals("78123"), "request": equals("track"), "satisfied": equals(True)},
    ),
    ("order-status", 1): (
        "I want to return a pair of shoes.",
        {"request": equals("return"), "satisfied": equals(True)},
    ),
}


def test_every_conversation_declares_values_its_transcript_says() -> None:
    templates = {(w.slug, t) for w in WORKFLOWS for t in range(len(w.conversations))}
    assert set(SAID) == templates
    for (slug, t), (line, said) in SAID.items():
        workflow = BY_SLUG[slug]
        template = workflow.conversations[t]
        assert line in " ".join(text for _, text in template.turns), (slug, t)
        declared = dict(template.variables)
        assert set(declared) == set(said), (slug, t)
        assert set(declared) <= set(workflow.variables), (slug, t)
        for name, values in declared.items():
            assert values, (slug, t, name)
            assert all(said[name](value) for value in values), (slug, t, name, values)


def test_a_calls_collected_variables_are_what_its_caller_said(demo: Tenant) -> None:
    # A conversation is told by its caller's first line (position 1: the identity check comes
    # after the opening exchange).
    by_first_line = {
        (slug, w.conversations[t].turns[1][1]): (slug, t)
        for slug, w in BY_SLUG.items()
        for t in range(len(w.conversations))
    }
    first_lines = dict(
        TranscriptTurn.objects.filter(tenant=demo, position=1).values_list("call_id", "text")
    )
    collected: dict[int, dict[str, Any]] = defaultdict(dict)
    for call_pk, name, value, was_collected in CollectedVariable.objects.filter(
        tenant=demo
    ).values_list("call_id", "name", "value", "collected"):
        collected[call_pk][name] = value if was_collected else None
    checked = 0
    for pk, slug in Call.objects.filter(tenant=demo, status="completed").values_list(
        "pk", "workflow__slug"
    ):
        key = by_first_line[(slug, first_lines[pk])]
        _, said = SAID[key]
        variables = collected[pk]
        assert set(variables) == set(BY_SLUG[slug].variables), (key, variables)
        for name, value in variables.items():
            if name not in said:
                assert value is None, (key, name, value)
            elif value is not None:
                assert said[name](value), (key, name, value)
                checked += 1
    assert checked > 500


# --- Cost -------------------------------------------------------------------------------------


def test_every_ended_call_costs_the_sum_of_its_components(demo: Tenant) -> None:
    calls = Call.objects.filter(tenant=demo).values_list(
        "status", "channel", "duration", "cost_usd", "cost_breakdown"
    )
    assert calls
    for status, channel, duration, cost, breakdown in calls:
        if status == "in-progress":
            # Known when the call ends.
            assert cost is None and breakdown == {}
            continue
        assert cost is not None
        assert set(breakdown) <= set(CostComponent.values), breakdown
        assert sum((Decimal(v) for v in breakdown.values()), Decimal(0)) == cost, breakdown
        if duration:
            assert cost > 0 and "llm" in breakdown
            # A voice minute costs cents; a long call no more than a dollar or so.
            assert Decimal("0.0001") < cost / duration * 60 < Decimal("0.5"), (cost, duration)
        if channel == "phone":
            assert Decimal(breakdown["telephony"]) > 0
        else:
            assert "telephony" not in breakdown


def test_the_call_page_and_the_csv_show_a_demo_calls_cost(
    demo: Tenant, client: Any, make_client: Callable[[Tenant], Any]
) -> None:
    call = Call.objects.filter(tenant=demo, status="completed", channel="phone").first()
    assert call is not None and call.cost_usd
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456")
    client.force_login(admin)

    page = client.get(f"/admin/calls/call/{call.pk}/change/").content.decode()
    export = make_client(demo).get("/api/v1/calls/export.csv", {"columns": "call_id,cost_usd"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))

    assert format_usd(call.cost_usd) in page
    for component, amount in call.cost_breakdown.items():
        assert f"{component}: {format_usd(amount)}" in page
    costs = {row["call_id"]: row["cost_usd"] for row in rows}
    assert Decimal(costs[call.call_id]) == call.cost_usd
    # Only calls still going on have no cost yet.
    assert sum(1 for cost in costs.values() if not cost) == (
        Call.objects.filter(tenant=demo, status="in-progress").count()
    )


# --- A fresh demo runs up to now --------------------------------------------------------------


@pytest.mark.parametrize("clock", ["2026-03-04T16:33:00+00:00", "2026-03-07T09:05:00+00:00"])
def test_a_fresh_demo_runs_up_to_now_with_the_last_day_as_busy_as_the_one_before(
    monkeypatch: pytest.MonkeyPatch, clock: str
) -> None:
    now = datetime.fromisoformat(clock)
    monkeypatch.setattr("django.utils.timezone.now", lambda: now)

    call_command("setup_demo", calls=3000, days=14, verbosity=0, stdout=StringIO())

    calls = Call.objects.filter(tenant__slug="demo")
    starts = list(calls.values_list("start_time", flat=True))
    assert max(starts) <= now
    assert not calls.filter(end_time__gt=now).exists()
    # The last hour has calls, and calls still going on.
    assert max(starts) > now - timedelta(hours=1)
    assert calls.filter(status="in-progress", start_time__gt=now - timedelta(hours=1)).exists()
    # The last 24 hours look like the 24 before them, not like an outage.
    day = timedelta(days=1)
    last = sum(1 for s in starts if s > now - day)
    before = sum(1 for s in starts if now - 2 * day < s <= now - day)
    assert 0.6 < last / before < 1.6, (last, before)


def test_no_demo_call_ends_after_until() -> None:
    # A busy morning: calls start every few seconds right up to ``until``; those that would
    # still be talking at ``until`` are in progress.
    until = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    tenant = Tenant.objects.create(name="Busy", slug="busy", timezone="Europe/Berlin")
    seed_demo(tenant=tenant, calls=4000, days=1, seed=1, until=until, transcripts=False)

    calls = Call.objects.filter(tenant=tenant)
    late = calls.filter(start_time__gt=until - timedelta(minutes=2))
    assert late.filter(status="in-progress").count() > late.count() * 0.6
    assert not calls.filter(end_time__gt=until).exists()
    assert not calls.filter(start_time__gt=until).exists()


def test_the_demo_is_the_same_for_the_same_until() -> None:
    until = datetime(2026, 3, 4, 16, 33, tzinfo=UTC)
    rows = []
    for slug in ("one", "two"):
        tenant = Tenant.objects.create(name=slug, slug=slug, timezone="Europe/Berlin")
        seed_demo(tenant=tenant, calls=600, days=5, seed=2, until=until)
        rows.append(
            list(
                Call.objects.filter(tenant=tenant)
                .order_by("call_id")
                .values_list("call_id", "status", "start_time", "end_time", "cost_usd")
            )
        )
    assert rows[0] == rows[1]
    assert max(r[2] for r in rows[0]) <= until


def test_recorded_conversations_are_shipped_and_timed_like_their_audio(demo: Tenant) -> None:
    turns = turns_by_call(demo)
    recorded = Call.objects.filter(tenant=demo).exclude(recording_url="")
    seen = set()
    for call in recorded.select_related("agent", "workflow"):
        (conversation,) = (
            r for r in RECORDED_CONVERSATIONS if call.recording_url == recording_url(r)
        )
        seen.add(conversation.file)
        spec = BY_SLUG[conversation.workflow]
        assert call.workflow is not None and call.workflow.slug == spec.slug
        assert call.agent is not None and call.agent.name == spec.agent
        assert call.status == "completed" and call.channel == "phone"
        assert call.duration == conversation.seconds
        assert call.recording_duration == str(conversation.seconds)
        timings = tuple((t.start_ms, t.end_ms) for t in turns[call.pk])
        assert timings == conversation.turns
        said = " ".join(t.text for t in turns[call.pk])
        assert "{" not in said
        if "{name}" in " ".join(
            text for _, text in spec.conversations[conversation.template].turns
        ):
            assert conversation.caller in said
    # Every shipped recording is in use, and no other call links to a recording.
    assert seen == {r.file for r in RECORDED_CONVERSATIONS}


@pytest.mark.parametrize("conversation", RECORDED_CONVERSATIONS, ids=lambda r: r.workflow)
def test_recordings_are_small_static_files_as_long_as_their_calls(conversation: object) -> None:
    from calls.demo.catalogue import RecordedConversation

    assert isinstance(conversation, RecordedConversation)
    found = finders.find(conversation.file)
    assert found, conversation.file
    data = Path(str(found)).read_bytes()
    assert data[:4] == b"OggS" and b"OpusHead" in data[:64]
    assert len(data) < 50_000
    # The Ogg page granule position of the last page is the length in 48 kHz samples, less the
    # encoder's pre-skip.
    last = data.rindex(b"OggS")
    granule = int.from_bytes(data[last + 6 : last + 14], "little")
    head = data.index(b"OpusHead")
    pre_skip = int.from_bytes(data[head + 10 : head + 12], "little")
    seconds = (granule - pre_skip) / 48_000
    assert conversation.seconds - 0.05 <= seconds <= conversation.seconds + 0.05
    assert conversation.turns[-1][1] <= conversation.seconds * 1000


# --- Serving the recordings ------------------------------------------------------------------


def shipped(conversation: object) -> bytes:
    return Path(str(finders.find(conversation.file))).read_bytes()  # type: ignore[attr-defined]


def test_a_recording_is_served_whole_with_ranges_offered(client: object) -> None:
    conversation = RECORDED_CONVERSATIONS[0]
    response = client.get(recording_url(conversation))  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/ogg"
    assert response["Accept-Ranges"] == "bytes"
    assert response.content == shipped(conversation)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-200", -200, None)],
)
def test_a_byte_range_is_answered_with_those_bytes(
    client: object, header: str, first: int, last: int | None
) -> None:
    conversation = RECORDED_CONVERSATIONS[1]
    data = shipped(conversation)
    response = client.get(recording_url(conversation), HTTP_RANGE=header)  # type: ignore[attr-defined]

    expected = data[first:] if last is None else data[first : last + 1]
    start = first % len(data)
    assert response.status_code == 206
    assert response.content == expected
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"


def test_a_range_past_the_end_is_refused_and_a_malformed_one_gets_the_whole_file(
    client: object,
) -> None:
    conversation = RECORDED_CONVERSATIONS[2]
    size = len(shipped(conversation))
    url = recording_url(conversation)

    past = client.get(url, HTTP_RANGE=f"bytes={size}-")  # type: ignore[attr-defined]
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{size}"
    whole = client.get(url, HTTP_RANGE="bytes=5-1, 7-9")  # type: ignore[attr-defined]
    assert whole.status_code == 200 and len(whole.content) == size


@pytest.mark.parametrize(
    "name", ["missing.ogg", "..%2F..%2Fsettings.py", "%2Fetc%2Fpasswd", "favicon.svg"]
)
def test_only_the_shipped_recordings_are_served(client: object, name: str) -> None:
    response = client.get(f"/demo/recordings/{name}")  # type: ignore[attr-defined]

    assert response.status_code == 404
