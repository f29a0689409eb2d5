"""Synthflow-compatible reads: ``GET /v2/calls`` and ``GET /v2/calls/{call_id}``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jsonschema import Draft202012Validator

from calls.enums import CallStatus
from calls.services import ingest_call_documents
from tests.calls.factories import SYNTHFLOW_DOC, call_doc

pytestmark = pytest.mark.django_db

REFERENCE = json.loads((Path(__file__).parent / "synthflow_reference.json").read_text())
LIST_URL = "/v2/calls"
BASE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
AGENT = "agent-a"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def validator(name: str) -> Draft202012Validator:
    schema = {"$defs": REFERENCE["$defs"], **REFERENCE[name]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def ingest(tenant: Any, *documents: dict[str, Any]) -> None:
    ingest_call_documents(tenant=tenant, documents=list(documents))


# A Synthflow call with every field filled with values the reference's enums allow.
FULL_SYNTHFLOW_DOC: dict[str, Any] = {
    **SYNTHFLOW_DOC,
    "lead_phone_number": "+4915510277534",
    "lead_name": "Eddie",
    "agents_used": ["Jake"],
    "labels": ["vip", "renewal"],
    "agent_phone_number": "+12315593024",
    "deployment_type": "phone",
    "recording_duration": "108",
    "judge_results": {"goal": True, "call_summary": "Fine."},
    "telephony_start": "2024-07-29T13:41:40Z",
    "telephony_end": "2024-07-29T13:43:43Z",
}


# --- shape -----------------------------------------------------------------------------------


def test_list_matches_the_reference_schema_field_for_field(tenant, api_client):
    ingest(tenant, FULL_SYNTHFLOW_DOC)

    response = api_client.get(LIST_URL, {"model_id": SYNTHFLOW_DOC["model_id"]})

    assert response.status_code == 200
    body = response.json()
    errors = [e.message for e in validator("list_calls_200").iter_errors(body)]
    assert errors == []
    assert set(body) == {"status", "response"}
    assert body["status"] == "ok"
    assert body["response"]["pagination"] == {"total_records": 1, "limit": 20, "offset": 0}
    (item,) = body["response"]["calls"]
    assert list(item) == list(REFERENCE["$defs"]["ListCallItem"]["properties"])


def test_list_item_values(tenant, api_client):
    ingest(tenant, FULL_SYNTHFLOW_DOC)

    item = api_client.get(LIST_URL, {"model_id": SYNTHFLOW_DOC["model_id"]}).json()["response"][
        "calls"
    ][0]

    assert item["call_id"] == SYNTHFLOW_DOC["call_id"]
    assert item["model_id"] == SYNTHFLOW_DOC["model_id"]
    assert item["start_time"] == "1722260515000"
    assert item["duration"] == 108
    assert item["call_status"] == "completed"
    assert item["transcript"] == SYNTHFLOW_DOC["transcript"]
    assert item["collected_variables"] == SYNTHFLOW_DOC["collected_variables"]
    assert item["executed_actions"] == SYNTHFLOW_DOC["executed_actions"]
    assert item["telephony_start"] == "2024-07-29T13:41:40Z"
    assert item["telephony_end"] == "2024-07-29T13:43:43Z"
    assert item["telephony_duration"] == 66000
    assert item["labels"] == ["vip", "renewal"]
    assert item["judge_results"] == {"goal": True, "call_summary": "Fine."}
    assert item["recording_url"] == SYNTHFLOW_DOC["recording_url"]


def test_list_item_of_a_sparse_call_still_matches_the_reference(tenant, api_client):
    ingest(
        tenant,
        {"call_id": "bare", "model_id": AGENT, "status": "in-progress", "start_time": ms(BASE)},
    )

    body = api_client.get(LIST_URL, {"model_id": AGENT}).json()

    assert [e.message for e in validator("list_calls_200").iter_errors(body)] == []
    item = body["response"]["calls"][0]
    assert item["duration"] == 0
    assert item["transcript"] == ""
    assert item["executed_actions"] == {}
    assert item["collected_variables"] == {}
    assert item["telephony_start"] is None
    assert item["recording_url"] is None


def test_get_call_matches_the_reference_schema_field_for_field(tenant, api_client):
    ingest(tenant, FULL_SYNTHFLOW_DOC)

    response = api_client.get(f"{LIST_URL}/{SYNTHFLOW_DOC['call_id']}")

    assert response.status_code == 200
    body = response.json()
    assert [e.message for e in validator("get_call_200").iter_errors(body)] == []
    assert body["status"] == "ok"
    assert body["response"]["pagination"] == {"total_records": 1, "limit": 20, "offset": 0}
    (item,) = body["response"]["calls"]
    assert list(item) == list(REFERENCE["$defs"]["GetCallItem"]["properties"])
    assert item["custom_end_call_reason"] == "Customer is being abusive"
    assert item["prompt_variables"] == {}
    assert item["telephony_ringing_duration"] == 15000
    assert item["status"] == "completed"
    for key in ("telephony_start", "telephony_end"):
        assert datetime.fromisoformat(item[key]).tzinfo is not None


def test_transcript_string_is_built_from_turns_in_order(tenant, api_client):
    ingest(
        tenant,
        call_doc(
            "t-1",
            model_id=AGENT,
            agent={"model_id": AGENT},
            transcript=[
                {"role": "bot", "text": "Hey there"},
                {"role": "human", "text": "Hello."},
                {"role": "tool", "text": "lookup(42)"},
                {"role": "bot", "text": "Hi, Eddie!"},
            ],
        ),
    )

    item = api_client.get(f"{LIST_URL}/t-1").json()["response"]["calls"][0]

    assert item["transcript"] == "bot: Hey there\nhuman: Hello.\ntool: lookup(42)\nbot: Hi, Eddie!"


def test_executed_actions_are_an_object_keyed_by_name(tenant, api_client):
    ingest(
        tenant,
        call_doc(
            "a-1",
            model_id=AGENT,
            agent={"model_id": AGENT},
            executed_actions=[
                {"name": "book", "action_type": "REAL_TIME_BOOKING", "success": True},
                {"name": "sms", "action_type": "SEND_SMS", "success": False, "latency_ms": 80},
            ],
        ),
    )

    item = api_client.get(LIST_URL, {"model_id": AGENT}).json()["response"]["calls"][0]

    assert set(item["executed_actions"]) == {"book", "sms"}
    assert item["executed_actions"]["sms"]["action_type"] == "SEND_SMS"
    assert item["executed_actions"]["sms"]["success"] is False


# --- filters on a dataset known by construction ----------------------------------------------

PHONES = ("+4915510277534", "+14155552671")
STATUSES = (CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.BUSY)


def dataset() -> list[dict[str, Any]]:
    """12 calls of AGENT, one hour apart: status cycles, duration = 10 * i, phone alternates."""
    return [
        {
            "call_id": f"s-{i:02d}",
            "model_id": AGENT,
            "status": STATUSES[i % 3],
            "start_time": ms(BASE + timedelta(hours=i)),
            "duration": 10 * i,
            "lead_phone_number": PHONES[i % 2],
        }
        for i in range(12)
    ]


@pytest.fixture
def calls(tenant, other_tenant):
    docs = dataset()
    ingest(tenant, *docs)
    # Noise that no filter on AGENT may return: another agent, and another tenant's AGENT.
    ingest(tenant, {**docs[0], "call_id": "other-agent", "model_id": "agent-b"})
    ingest(other_tenant, *[{**d, "call_id": "x" + d["call_id"]} for d in docs])
    return docs


def ids_for(client: Any, **params: Any) -> list[str]:
    response = client.get(LIST_URL, {"model_id": AGENT, "limit": 100, **params})
    assert response.status_code == 200, response.json()
    body = response.json()["response"]
    assert body["pagination"]["total_records"] == len(body["calls"])
    return [c["call_id"] for c in body["calls"]]


def expected(docs: list[dict[str, Any]], keep: Any) -> list[str]:
    # Newest first.
    return [d["call_id"] for d in sorted(docs, key=lambda d: -d["start_time"]) if keep(d)]


FROM = ms(BASE + timedelta(hours=3))
TO = ms(BASE + timedelta(hours=7))

FILTER_CASES = [
    ({}, lambda d: True),
    ({"from_date": FROM}, lambda d: d["start_time"] >= FROM),
    ({"to_date": TO}, lambda d: d["start_time"] < TO),
    ({"from_date": FROM, "to_date": TO}, lambda d: FROM <= d["start_time"] < TO),
    ({"call_status": "failed"}, lambda d: d["status"] == "failed"),
    ({"duration_min": 30}, lambda d: d["duration"] >= 30),
    ({"duration_max": 30}, lambda d: d["duration"] <= 30),
    ({"duration_min": 30, "duration_max": 30}, lambda d: d["duration"] == 30),
    ({"lead_phone_number": PHONES[1]}, lambda d: d["lead_phone_number"] == PHONES[1]),
    (
        {"call_status": "completed", "duration_min": 20, "to_date": TO},
        lambda d: d["status"] == "completed" and d["duration"] >= 20 and d["start_time"] < TO,
    ),
    (
        {"lead_phone_number": PHONES[0], "from_date": FROM, "duration_max": 80},
        lambda d: (
            d["lead_phone_number"] == PHONES[0] and d["start_time"] >= FROM and d["duration"] <= 80
        ),
    ),
    ({"call_status": "spam"}, lambda d: False),
]


@pytest.mark.parametrize(("params", "keep"), FILTER_CASES)
def test_filters_alone_and_combined(calls, api_client, params, keep):
    assert ids_for(api_client, **params) == expected(calls, keep)


def test_window_bounds_are_inclusive_from_and_exclusive_to(calls, api_client):
    start_3 = calls[3]["start_time"]

    assert ids_for(api_client, from_date=start_3, to_date=start_3 + 1) == ["s-03"]
    assert ids_for(api_client, from_date=start_3 + 1, to_date=start_3 + 2) == []
    assert ids_for(api_client, from_date=start_3 - 1, to_date=start_3) == []


def test_lead_phone_number_encoded_or_not(calls, api_client):
    want = expected(calls, lambda d: d["lead_phone_number"] == PHONES[1])
    digits = PHONES[1][1:]

    encoded = api_client.get(f"{LIST_URL}?model_id={AGENT}&lead_phone_number=%2B{digits}")
    # An unencoded "+" decodes to a space; the number is still recognised.
    unencoded = api_client.get(f"{LIST_URL}?model_id={AGENT}&lead_phone_number=+{digits}")

    for response in (encoded, unencoded):
        assert [c["call_id"] for c in response.json()["response"]["calls"]] == want


def test_unknown_model_id_is_an_empty_list(calls, api_client):
    response = api_client.get(LIST_URL, {"model_id": "nobody"})

    assert response.status_code == 200
    assert response.json()["response"] == {
        "pagination": {"total_records": 0, "limit": 20, "offset": 0},
        "calls": [],
    }


def test_limit_offset_and_total(calls, api_client):
    newest_first = expected(calls, lambda d: True)

    page = api_client.get(LIST_URL, {"model_id": AGENT, "limit": 5, "offset": 10}).json()

    assert page["response"]["pagination"] == {"total_records": 12, "limit": 5, "offset": 10}
    assert [c["call_id"] for c in page["response"]["calls"]] == newest_first[10:]
    default = api_client.get(LIST_URL, {"model_id": AGENT}).json()["response"]
    assert default["pagination"]["limit"] == 20
    beyond = api_client.get(LIST_URL, {"model_id": AGENT, "offset": 50}).json()["response"]
    assert beyond == {"pagination": {"total_records": 12, "limit": 20, "offset": 50}, "calls": []}


def test_order_is_stable_for_calls_starting_together(tenant, api_client):
    same = ms(BASE)
    ingest(
        tenant,
        *[
            {"call_id": f"same-{i}", "model_id": AGENT, "status": "completed", "start_time": same}
            for i in range(6)
        ],
    )

    pages = [
        c["call_id"]
        for offset in range(0, 6, 2)
        for c in api_client.get(LIST_URL, {"model_id": AGENT, "limit": 2, "offset": offset}).json()[
            "response"
        ]["calls"]
    ]

    # Ties break by insertion (id), newest first: no call repeats or goes missing across pages.
    assert pages == [f"same-{i}" for i in reversed(range(6))]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", "model_id"),
        ("model_id=", "model_id"),
        ("model_id=a&limit=0", "limit"),
        ("model_id=a&limit=101", "limit"),
        ("model_id=a&limit=ten", "limit"),
        ("model_id=a&offset=-1", "offset"),
        ("model_id=a&from_date=yesterday", "from_date"),
        ("model_id=a&from_date=-5", "from_date"),
        ("model_id=a&to_date=1.5", "to_date"),
        ("model_id=a&to_date=2026-03-01", "to_date"),
        ("model_id=a&call_status=done", "call_status"),
        ("model_id=a&duration_min=-1", "duration_min"),
        ("model_id=a&duration_max=long", "duration_max"),
        ("model_id=a&lead_phone_number=call-me", "lead_phone_number"),
        ("model_id=a&page=2", "page"),
        ("model_id=a&limit=5&limit=6", "limit"),
    ],
)
def test_malformed_parameters_are_400_in_synthflow_body(api_client, query, names):
    response = api_client.get(f"{LIST_URL}?{query}")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert set(detail) == {"status", "description", "request_id", "category"}
    assert detail["status"] == "error"
    assert detail["category"] == "bad_request"
    assert names in detail["description"]
    assert detail["request_id"] == response["X-Request-ID"]


def test_get_call_rejects_query_parameters(tenant, api_client):
    ingest(tenant, FULL_SYNTHFLOW_DOC)

    response = api_client.get(f"{LIST_URL}/{SYNTHFLOW_DOC['call_id']}", {"expand": "all"})

    assert response.status_code == 400
    assert "expand" in response.json()["detail"]["description"]


@pytest.mark.parametrize("url", [f"{LIST_URL}?model_id=a", f"{LIST_URL}/c-1"])
def test_missing_key_is_401_in_synthflow_body(client, url):
    response = client.get(url)

    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail["category"] == "unauthorized"
    assert detail["request_id"] == response["X-Request-ID"]


def test_error_request_id_is_in_the_log_line(api_client, caplog):
    response = api_client.get(LIST_URL, HTTP_X_REQUEST_ID="req-0123456789")

    assert response.json()["detail"]["request_id"] == "req-0123456789"
    assert any("request_id=req-0123456789" in r.getMessage() for r in caplog.records)


# --- tenancy ---------------------------------------------------------------------------------


def test_list_shows_only_the_keys_tenant(calls, api_client, other_api_client):
    mine = ids_for(api_client)
    theirs = other_api_client.get(LIST_URL, {"model_id": AGENT, "limit": 100}).json()

    assert all(not c.startswith("x") for c in mine)
    assert len(mine) == 12
    assert all(c["call_id"].startswith("x") for c in theirs["response"]["calls"])


def test_another_tenants_call_is_404_like_a_missing_one(tenant, other_tenant, other_api_client):
    ingest(tenant, FULL_SYNTHFLOW_DOC)

    theirs = other_api_client.get(f"{LIST_URL}/{SYNTHFLOW_DOC['call_id']}")
    missing = other_api_client.get(f"{LIST_URL}/no-such-call")

    assert theirs.status_code == missing.status_code == 404
    strip = lambda body: {**body["detail"], "request_id": None}  # noqa: E731
    assert strip(theirs.json()) == strip(missing.json())
    assert theirs.json()["detail"]["category"] == "not_found"


# --- query counts ----------------------------------------------------------------------------


def count_queries(client: Any, url: str, params: dict[str, Any] | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def rich_doc(i: int) -> dict[str, Any]:
    return call_doc(
        f"q-{i:03d}",
        model_id=AGENT,
        agent={"model_id": AGENT, "name": "A"},
        start_time=ms(BASE + timedelta(minutes=i)),
        executed_actions=[{"name": f"act-{n}"} for n in range(3)],
        collected_variables={"agent": {f"v{n}": n for n in range(3)}},
    )


def test_a_page_costs_the_same_queries_whatever_its_size(tenant, api_client):
    ingest(tenant, *[rich_doc(i) for i in range(40)])
    api_client.get(LIST_URL, {"model_id": AGENT})  # the key's last_used_at write happens once

    small = count_queries(api_client, LIST_URL, {"model_id": AGENT, "limit": 2})
    large = count_queries(api_client, LIST_URL, {"model_id": AGENT, "limit": 40})

    assert small == large
    assert large <= 7  # key, count, page ids, page rows, turns, variables, actions


def test_get_call_costs_the_same_queries_whatever_it_carries(tenant, api_client):
    ingest(tenant, call_doc("small", transcript=[{"role": "bot", "text": "Hi"}]))
    big = call_doc(
        "big",
        transcript=[{"role": "bot", "text": f"line {n}"} for n in range(200)],
        executed_actions=[{"name": f"act-{n}"} for n in range(20)],
    )
    ingest(tenant, big)
    api_client.get(f"{LIST_URL}/small")

    assert count_queries(api_client, f"{LIST_URL}/small") == count_queries(
        api_client, f"{LIST_URL}/big"
    )
