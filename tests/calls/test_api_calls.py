"""Native call reads: ``GET /api/v1/calls`` (filters, ordering, cursors) and
``GET /api/v1/calls/{call_id}``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls import queries
from calls.enums import SUCCESSFUL_END_CALL_REASONS
from calls.models import TranscriptTurn
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"
BASE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PHONES = ("+4915510277534", "+14155552671", "+442071838750")


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def spec(i: int) -> dict[str, Any]:
    """Call number ``i`` of the dataset: every attribute a function of ``i``."""
    duration = None if i % 7 == 6 else 15 * i
    start = BASE + timedelta(hours=i if i != 11 else 10)  # calls 10 and 11 start together
    return {
        "i": i,
        "call_id": f"n-{i:02d}",
        "agent": ("a1", "a2")[i % 2],
        "workflow": ("w1", "w2", None)[i % 3],
        "status": ("completed", "failed", "completed", "busy", "in-progress")[i % 5],
        "type": ("inbound", "outbound", "widget")[(i // 2) % 3],
        "channel": ("phone", "web_chat", "whatsapp", "api")[i % 4],
        "sentiment": ("positive", "neutral", "negative", None)[(i // 3) % 4],
        "success": (True, False, None)[(i // 4) % 3],
        "end_reason": ("agent_goodbye", "human_hangup", "voicemail", "custom_end_call")[
            (i + 1) % 4
        ],
        "labels": (["vip"], ["vip", "churn"], [], ["churn"])[i % 4],
        "start": start,
        "duration": duration,
        "end": start + timedelta(seconds=duration) if duration is not None else None,
        "phone": PHONES[i % 3],
        "lead_id": f"lead_{i % 4}" if i % 2 == 0 else None,
        "plan": ("gold", "silver")[i % 2],
        "seats": i % 5,
        "renew": i % 3 == 0,
        "words": "I want to cancel my booking" if i % 5 == 0 else "Just checking the schedule",
    }


def effective_success(s: dict[str, Any]) -> bool:
    if s["success"] is not None:
        return s["success"]
    return s["status"] == "completed" and s["end_reason"] in SUCCESSFUL_END_CALL_REASONS


def document(s: dict[str, Any]) -> dict[str, Any]:
    doc = call_doc(
        s["call_id"],
        model_id=s["agent"],
        agent={"model_id": s["agent"], "name": s["agent"].upper()},
        workflow={"slug": s["workflow"]} if s["workflow"] else None,
        status=s["status"],
        type_of_call=s["type"],
        channel=s["channel"],
        sentiment=s["sentiment"],
        success=s["success"],
        end_call_reason=s["end_reason"],
        labels=s["labels"],
        start_time=s["start"].isoformat(),
        end_time=s["end"].isoformat() if s["end"] else None,
        duration=s["duration"],
        lead_phone_number=s["phone"],
        transcript=[
            {"role": "bot", "text": "Hello, how can I help?"},
            {"role": "human", "text": s["words"]},
        ],
        collected_variables={
            "agent_x": {"plan": s["plan"], "seats": s["seats"], "renew": s["renew"]}
        },
    )
    if s["lead_id"]:
        # The lead's own phone is none of the calls' numbers, so no other call links to it.
        phone = f"+49309018{s['i'] % 4:02d}"
        doc["lead"] = {"lead_id": s["lead_id"], "phone_number": phone, "name": "Lead"}
    return doc


SPECS = [spec(i) for i in range(16)]


@pytest.fixture
def calls(tenant, other_tenant):
    ingest_call_documents(tenant=tenant, documents=[document(s) for s in SPECS])
    # Another tenant with the same agents, workflows, phones and words: never in our results.
    ingest_call_documents(
        tenant=other_tenant,
        documents=[{**document(s), "call_id": "x" + s["call_id"]} for s in SPECS],
    )
    return SPECS


def fetch_all(client: Any, params: dict[str, Any] | None = None, limit: int = 5) -> list[str]:
    """Every call id the list returns, following ``next`` links."""
    response = client.get(URL, {"limit": limit, **(params or {})})
    ids: list[str] = []
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        ids.extend(c["call_id"] for c in body["results"])
        if body["next"] is None:
            return ids
        response = client.get(body["next"])


def newest_first(keep: Any) -> list[str]:
    ordered = sorted(SPECS, key=lambda s: (s["start"], s["i"]), reverse=True)
    return [s["call_id"] for s in ordered if keep(s)]


AFTER = (BASE + timedelta(hours=4)).isoformat()
BEFORE = (BASE + timedelta(hours=9)).isoformat()

FILTER_CASES = [
    ({}, lambda s: True),
    ({"agent": "a1"}, lambda s: s["agent"] == "a1"),
    ({"agent": "a1,a2"}, lambda s: True),
    ({"workflow": "w2"}, lambda s: s["workflow"] == "w2"),
    ({"status": "failed"}, lambda s: s["status"] == "failed"),
    ({"status": "failed,busy"}, lambda s: s["status"] in {"failed", "busy"}),
    ({"type": "widget"}, lambda s: s["type"] == "widget"),
    ({"channel": "web_chat,api"}, lambda s: s["channel"] in {"web_chat", "api"}),
    ({"sentiment": "negative"}, lambda s: s["sentiment"] == "negative"),
    ({"success": "true"}, effective_success),
    ({"success": "false"}, lambda s: not effective_success(s)),
    ({"end_reason": "voicemail"}, lambda s: s["end_reason"] == "voicemail"),
    ({"label": "churn"}, lambda s: "churn" in s["labels"]),
    ({"label": "vip,churn"}, lambda s: bool(s["labels"])),
    ({"started_after": AFTER}, lambda s: s["start"].isoformat() >= AFTER),
    ({"started_before": BEFORE}, lambda s: s["start"].isoformat() < BEFORE),
    ({"duration_min": 60}, lambda s: s["duration"] is not None and s["duration"] >= 60),
    ({"duration_max": 60}, lambda s: s["duration"] is not None and s["duration"] <= 60),
    ({"lead_phone": PHONES[1]}, lambda s: s["phone"] == PHONES[1]),
    ({"lead_id": "lead_2"}, lambda s: s["lead_id"] == "lead_2"),
    ({"var.plan": "gold"}, lambda s: s["plan"] == "gold"),
    ({"var.seats": "3"}, lambda s: s["seats"] == 3),
    ({"var.renew": "true"}, lambda s: s["renew"]),
    ({"var.nothing": "x"}, lambda s: False),
    ({"q": "cancel"}, lambda s: "cancel" in s["words"]),
    # Terms apply to the whole transcript: "hello" and "cancel" are said in different turns.
    ({"q": "cancel hello"}, lambda s: "cancel" in s["words"]),
    ({"q": "hello -cancel"}, lambda s: "cancel" not in s["words"]),
    ({"q": "cancel or schedule"}, lambda s: True),
    ({"q": '"my booking"'}, lambda s: "cancel" in s["words"]),
    (
        {"agent": "a1", "status": "completed,busy", "started_after": AFTER},
        lambda s: (
            s["agent"] == "a1"
            and s["status"] in {"completed", "busy"}
            and s["start"].isoformat() >= AFTER
        ),
    ),
    (
        {"channel": "phone", "label": "vip", "var.plan": "gold", "q": "cancel"},
        lambda s: (
            s["channel"] == "phone"
            and "vip" in s["labels"]
            and s["plan"] == "gold"
            and "cancel" in s["words"]
        ),
    ),
    (
        {"success": "false", "duration_min": 30, "duration_max": 150, "workflow": "w1,w2"},
        lambda s: (
            not effective_success(s)
            and s["duration"] is not None
            and 30 <= s["duration"] <= 150
            and s["workflow"] is not None
        ),
    ),
    ({"var.plan": "gold", "var.seats": "0"}, lambda s: s["plan"] == "gold" and s["seats"] == 0),
]


@pytest.mark.parametrize(("params", "keep"), FILTER_CASES)
def test_filters_alone_and_combined(calls, api_client, params, keep):
    want = newest_first(keep)

    assert fetch_all(api_client, params) == want


def test_repeated_parameter_is_the_same_as_a_comma_list(calls, api_client):
    repeated = api_client.get(f"{URL}?status=failed&status=busy&limit=50").json()
    listed = api_client.get(f"{URL}?status=failed,busy&limit=50").json()

    assert [c["call_id"] for c in repeated["results"]] == [c["call_id"] for c in listed["results"]]


def test_started_after_without_offset_is_utc_and_unencoded_plus_is_an_offset(calls, api_client):
    naive = fetch_all(api_client, {"started_after": "2026-03-01T12:00:00"})
    spaced = api_client.get(f"{URL}?started_after=2026-03-01T13:00:00+01:00&limit=50").json()

    assert naive == newest_first(lambda s: s["start"] >= BASE + timedelta(hours=4))
    assert [c["call_id"] for c in spaced["results"]] == naive


def test_datetimes_with_any_valid_offset_are_accepted(calls, api_client):
    # Python takes offsets up to 23:59, PostgreSQL up to 15:59: the window is sent in UTC.
    far = fetch_all(api_client, {"started_after": "2026-03-01T00:00:00-20:19"})
    edge = api_client.get(URL, {"started_after": "0001-01-01T00:00:00+01:00"})

    assert far == newest_first(lambda s: s["start"] >= datetime(2026, 3, 1, 20, 19, tzinfo=UTC))
    assert edge.status_code == 400
    assert "started_after" in edge.json()["detail"]


@pytest.mark.postgres
def test_transcript_search_stems_and_skips_stop_words(calls, api_client):
    cancelling = newest_first(lambda s: "cancel" in s["words"])

    assert fetch_all(api_client, {"q": "booked"}) == cancelling
    assert fetch_all(api_client, {"q": "the cancelled bookings"}) == cancelling
    assert fetch_all(api_client, {"q": '"checking the schedules"'}) == newest_first(
        lambda s: "cancel" not in s["words"]
    )


def test_search_pages_read_a_bounded_window_and_still_reach_every_match(
    calls, api_client, monkeypatch
):
    # An excluded word is checked call by call: each page reads at most 3 calls here.
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 3)
    want = newest_first(lambda s: "cancel" in s["words"])

    pages = []
    response = api_client.get(URL, {"q": "-schedule", "limit": 2})
    while True:
        body = response.json()
        pages.append(body)
        if body["next"] is None:
            break
        response = api_client.get(body["next"])
    backwards = []
    response = api_client.get(pages[-1]["previous"])
    while True:
        body = response.json()
        backwards = [c["call_id"] for c in body["results"]] + backwards
        if body["previous"] is None:
            break
        response = api_client.get(body["previous"])

    forwards = [c["call_id"] for page in pages for c in page["results"]]
    assert forwards == want
    assert any(len(page["results"]) < 2 for page in pages[:-1])  # short pages, next still set
    last_page = [c["call_id"] for c in pages[-1]["results"]]
    assert backwards + last_page == want


@pytest.mark.postgres
def test_search_reads_rare_terms_from_the_index_and_common_ones_call_by_call(calls):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_transcriptturn")

    common = queries.plan_transcript_search("hello")
    rare = queries.plan_transcript_search("zebra")
    stop_words = queries.plan_transcript_search("the")
    both = queries.plan_transcript_search("hello zebra")

    assert common.scans and common.call_ids is None
    assert not rare.scans and rare.call_ids == frozenset()
    assert not stop_words.scans
    assert not both.scans and both.call_ids == frozenset()


def test_search_parses_web_search_syntax():
    terms = queries.parse_search('refund "not happy" or angry -spam')

    assert terms == [
        queries.SearchTerm((("refund", False),)),
        queries.SearchTerm((("not happy", True), ("angry", False))),
        queries.SearchTerm((("spam", False),), negated=True),
    ]


@pytest.mark.postgres
def test_transcript_search_expression_is_the_indexed_one(calls):
    from django.contrib.postgres.search import SearchQuery

    turns = TranscriptTurn.objects.alias(document=queries.TranscriptVector("text")).filter(
        document=SearchQuery("cancel", config="english", search_type="websearch")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = turns.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "turn_text_fts_idx" in plan


# --- ordering and cursors --------------------------------------------------------------------


def sort_key(field: str) -> Any:
    name = {"start_time": "start", "end_time": "end", "duration": "duration"}[field]
    # NULLs sort as the smallest values; ties by id (insertion order).
    return lambda s: (s[name] is not None, s[name] or 0, s["i"])


@pytest.mark.parametrize("ordering", sorted(queries.ORDERINGS))
def test_every_ordering_pages_through_every_call_once(calls, api_client, ordering):
    field = ordering.lstrip("-")
    want = [
        s["call_id"] for s in sorted(SPECS, key=sort_key(field), reverse=ordering.startswith("-"))
    ]

    assert fetch_all(api_client, {"ordering": ordering}, limit=3) == want


def test_previous_link_returns_the_previous_page(calls, api_client):
    first = api_client.get(URL, {"limit": 4, "ordering": "duration"}).json()
    second = api_client.get(first["next"]).json()
    back = api_client.get(second["previous"]).json()

    assert first["previous"] is None
    assert [c["call_id"] for c in back["results"]] == [c["call_id"] for c in first["results"]]
    assert back["next"] is not None


def test_cursor_pages_are_stable_under_inserts(calls, tenant, api_client):
    first = api_client.get(URL, {"limit": 4}).json()
    seen = [c["call_id"] for c in first["results"]]
    # New calls land before the cursor (newer than anything seen) and after it (older).
    ingest_call_documents(
        tenant=tenant,
        documents=[
            document({**SPECS[0], "call_id": "new-newest", "start": BASE + timedelta(days=9)}),
            document({**SPECS[0], "call_id": "new-oldest", "start": BASE - timedelta(days=9)}),
        ],
    )

    rest: list[str] = []
    response = api_client.get(first["next"])
    while True:
        body = response.json()
        rest.extend(c["call_id"] for c in body["results"])
        if body["next"] is None:
            break
        response = api_client.get(body["next"])

    assert seen + rest == [*newest_first(lambda s: True), "new-oldest"]


# --- detail ----------------------------------------------------------------------------------


def test_detail_is_the_whole_call(tenant, api_client):
    doc = call_doc(
        "whole",
        lead={
            "lead_id": "lead_01",
            "phone_number": "+4915758658647",
            "name": "Eddie",
            "status": "qualified",
            "score": 64,
            "estimated_value": 45000,
        },
        labels=["vip"],
        intents=[{"intent": "pricing", "confidence": 0.9}],
    )
    ingest_call_documents(tenant=tenant, documents=[doc])

    body = api_client.get(f"{URL}/whole").json()

    assert body["call_id"] == "whole"
    assert body["agent"] == {"model_id": "agent-1", "name": "Jake", "type": "outbound"}
    assert body["workflow"] == {"slug": "daily-call", "name": "Daily Health Check"}
    assert body["lead"]["lead_id"] == "lead_01"
    assert body["lead"]["status"] == "qualified"
    assert body["lead"]["estimated_value"] == 45000
    assert body["transcript"] == [
        {"position": 0, "role": "bot", "text": "Hi, Eddie!", "start_ms": 0, "end_ms": 900},
        {"position": 1, "role": "human", "text": "Hello.", "start_ms": 1200, "end_ms": 1700},
    ]
    assert body["collected_variables"] == {
        "agent_123": {"user_name": {"value": "Julian", "collected": True}}
    }
    assert body["executed_actions"][0]["name"] == "book_meeting"
    assert body["executed_actions"][0]["payload"]["action_type"] == "REAL_TIME_BOOKING"
    assert [s["provider_type"] for s in body["latencies"]] == ["llm", "tts"]
    assert body["errors"][0]["message"] == "Slow first byte"
    assert body["errors"][0]["details"] == {"ttfb_ms": 1900}
    assert body["start_time"] == "2026-03-01T10:00:00Z"
    assert body["duration"] == 113
    assert body["success"] is True
    assert body["intents"] == [
        {"intent": "pricing", "confidence": 0.9, "estimated_deal_size": None}
    ]


def test_detail_of_another_tenants_call_is_404_like_a_missing_one(calls, other_api_client):
    theirs = other_api_client.get(f"{URL}/n-01")
    missing = other_api_client.get(f"{URL}/nope")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"detail": "Call not found."}


def test_list_shows_only_the_keys_tenant(calls, api_client, other_api_client):
    mine = fetch_all(api_client, limit=200)
    theirs = fetch_all(other_api_client, limit=200)

    assert sorted(mine) == sorted(s["call_id"] for s in SPECS)
    assert sorted(theirs) == sorted("x" + s["call_id"] for s in SPECS)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("bogus=1", "bogus"),
        ("status=done", "status"),
        ("status=completed,done", "status"),
        ("type=fax", "type"),
        ("channel=pigeon", "channel"),
        ("sentiment=angry", "sentiment"),
        ("success=maybe", "success"),
        ("started_after=yesterday", "started_after"),
        ("started_before=1732546200000", "started_before"),
        ("duration_min=-1", "duration_min"),
        ("duration_max=1.5x", "duration_max"),
        ("lead_phone=call-me", "lead_phone"),
        ("lead_id=a&lead_id=b", "lead_id"),
        ("ordering=name", "ordering"),
        ("ordering=-start_time&ordering=duration", "ordering"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("var.=x", "var."),
        ("q=" + "x" * 201, "q"),
        ("q=" + "+".join(["w"] * 9), "q"),
    ],
)
def test_malformed_parameters_are_400_naming_them(api_client, query, name):
    response = api_client.get(f"{URL}?{query}")

    assert response.status_code == 400
    body = response.json()
    assert name in body["detail"]
    assert name in {e["field"] for e in body["errors"]}


def test_cursor_of_another_ordering_is_400(calls, api_client):
    page = api_client.get(URL, {"limit": 2, "ordering": "duration"}).json()
    cursor = parse_qs(urlsplit(page["next"]).query)["cursor"][0]

    response = api_client.get(URL, {"cursor": cursor, "ordering": "-start_time"})

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_detail_rejects_query_parameters(calls, api_client):
    response = api_client.get(f"{URL}/n-01", {"fields": "all"})

    assert response.status_code == 400
    assert "fields" in response.json()["detail"]


def test_missing_key_is_401_json(client):
    response = client.get(URL)

    assert response.status_code == 401
    assert response.json() == {"detail": "Missing Authorization header (Bearer <api key>)."}


# --- query counts ----------------------------------------------------------------------------


def count_queries(client: Any, url: str, params: dict[str, Any] | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_a_page_costs_the_same_queries_whatever_its_size(calls, api_client):
    api_client.get(URL)

    small = count_queries(api_client, URL, {"limit": 2})
    large = count_queries(api_client, URL, {"limit": 16})
    searched = {"q": "cancel hello", "var.plan": "gold"}
    small_search = count_queries(api_client, URL, {"limit": 2, **searched})
    large_search = count_queries(api_client, URL, {"limit": 16, **searched})

    assert small == large
    assert large <= 4  # key, page (agent, workflow, lead joined), variables, actions
    assert small_search == large_search
    assert large_search <= 10  # + the search's statistics, probes and window edge


def test_detail_costs_the_same_queries_whatever_it_carries(tenant, api_client):
    ingest_call_documents(tenant=tenant, documents=[call_doc("small", transcript=[])])
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc(
                "big",
                transcript=[{"role": "bot", "text": f"line {n}"} for n in range(100)],
                latencies=[{"provider_type": "llm", "latency_ms": n} for n in range(50)],
            )
        ],
    )
    api_client.get(f"{URL}/small")

    assert count_queries(api_client, f"{URL}/small") == count_queries(api_client, f"{URL}/big")


@pytest.mark.parametrize(
    "url", [URL, f"{URL}/n-01", f"{URL}/export.csv", "/v2/calls", "/v2/calls/n-01"]
)
def test_options_requests_answer_without_error(api_client, url):
    response = api_client.options(url)

    assert response.status_code == 200
    assert "GET" in response["Allow"]
