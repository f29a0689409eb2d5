"""The demo data tells coherent stories: every agent is one persona (a name, a business, a use
case) and says so in its calls, a call lasts past its last turn, latency samples belong to the
agent's replies, and the recorded conversations' calls play shipped audio whose turns are where
the transcript says."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from calls.demo.catalogue import RECORDED_CONVERSATIONS, WORKFLOWS
from calls.demo.recordings import recording_url
from calls.demo.writer import seed_demo
from calls.models import Call, LatencySample, Lead, Tenant, TranscriptTurn, agent_replies

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
        if status == "in_progress":
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
