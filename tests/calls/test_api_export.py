"""CSV export: ``GET /api/v1/calls/export.csv``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.api import export
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls/export.csv"
BASE = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def bare(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "call_id": f"e-{i:04d}",
        "model_id": "agent-1",
        "status": "completed" if i % 2 else "failed",
        "start_time": (BASE + timedelta(minutes=i)).isoformat(),
        "duration": i,
        **fields,
    }


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def test_default_columns_newest_first(tenant, api_client):
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc("c-1"),
            call_doc(
                "c-2",
                start_time="2026-03-02T10:00:00Z",
                end_time="2026-03-02T10:05:00Z",
                labels=["vip", "renewal"],
            ),
        ],
    )

    rows = read_csv(api_client.get(URL))

    assert rows[0] == list(export.DEFAULT_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["c-2", "c-1"]
    c2 = dict(zip(rows[0], rows[1], strict=True))
    assert c2["start_time"] == "2026-03-02T10:00:00+00:00"
    assert c2["duration"] == "300"
    assert c2["agent_model_id"] == "agent-1"
    assert c2["workflow"] == "daily-call"
    assert c2["success"] == "true"
    assert c2["handoff"] == "false"
    assert c2["labels"] == "vip,renewal"
    assert c2["sentiment"] == "positive"


def test_whole_filtered_set_not_one_page(tenant, api_client):
    ingest_call_documents(tenant=tenant, documents=[bare(i) for i in range(450)])

    rows = read_csv(api_client.get(URL, {"status": "completed", "columns": "call_id,status"}))

    assert rows[0] == ["call_id", "status"]
    assert len(rows) - 1 == 225
    assert {r[1] for r in rows[1:]} == {"completed"}
    assert [r[0] for r in rows[1:]] == [f"e-{i:04d}" for i in reversed(range(450)) if i % 2]


def test_chosen_columns_in_the_given_order(tenant, api_client):
    ingest_call_documents(tenant=tenant, documents=[call_doc("c-1")])

    rows = read_csv(
        api_client.get(URL, {"columns": "duration,call_id,transcript,collected_variables"})
    )

    assert rows == [
        ["duration", "call_id", "transcript", "collected_variables"],
        [
            "113",
            "c-1",
            "bot: Hi, Eddie!\nhuman: Hello.",
            '{"agent_123":{"user_name":{"value":"Julian","collected":true}}}',
        ],
    ]


def test_quoting_survives_commas_quotes_and_newlines(tenant, api_client):
    tricky = 'Smith, "Eddie"\nthe 2nd'
    ingest_call_documents(
        tenant=tenant, documents=[call_doc("c-1", lead_name=tricky, error_message="a;b,c")]
    )

    rows = read_csv(api_client.get(URL, {"columns": "call_id,lead_name,error_message"}))

    assert rows[1] == ["c-1", tricky, "a;b,c"]


def test_times_are_in_the_tenants_zone_across_dst(tenant, api_client):
    tenant.timezone = "Europe/Berlin"
    tenant.save()
    ingest_call_documents(
        tenant=tenant,
        documents=[
            bare(1, start_time="2026-01-15T12:00:00Z"),
            bare(2, start_time="2026-07-15T12:00:00Z", end_time="2026-07-15T12:01:00Z"),
        ],
    )

    rows = read_csv(api_client.get(URL, {"columns": "call_id,start_time,end_time"}))
    utc = read_csv(
        api_client.get(URL, {"columns": "call_id,start_time", "timezone": "America/New_York"})
    )

    assert rows[1:] == [
        ["e-0002", "2026-07-15T14:00:00+02:00", "2026-07-15T14:01:00+02:00"],
        ["e-0001", "2026-01-15T13:00:00+01:00", ""],
    ]
    assert utc[1:] == [
        ["e-0002", "2026-07-15T08:00:00-04:00"],
        ["e-0001", "2026-01-15T07:00:00-05:00"],
    ]


def test_export_leaves_out_other_tenants_calls(tenant, other_tenant, api_client):
    ingest_call_documents(tenant=tenant, documents=[bare(1)])
    ingest_call_documents(tenant=other_tenant, documents=[bare(2), bare(3)])

    rows = read_csv(api_client.get(URL, {"columns": "call_id"}))

    assert rows == [["call_id"], ["e-0001"]]


def test_export_streams_in_bounded_chunks(tenant, api_client, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_CHUNK_SIZE", 40)
    ingest_call_documents(tenant=tenant, documents=[bare(i) for i in range(200)])

    response = api_client.get(URL, {"columns": "call_id,transcript"})
    assert response.streaming
    blocks = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as ctx:
        header = next(blocks)
        first = next(blocks)
    # The first block came from one chunk: one keyset query plus one for its transcripts,
    # nothing read ahead.
    assert header == b"call_id,transcript\r\n"
    assert first.count(b"\r\n") == 40
    assert len(ctx.captured_queries) == 2
    with CaptureQueriesContext(connection) as ctx:
        rest = list(blocks)
    # 200 rows in chunks of 40: four more chunks of two queries each, then one keyset query
    # that finds the end.
    assert sum(block.count(b"\r\n") for block in rest) == 160
    assert len(ctx.captured_queries) == 9
    keyset_queries = [q["sql"] for q in ctx.captured_queries if "calls_call" in q["sql"]]
    assert all("LIMIT 40" in sql for sql in keyset_queries)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("columns=call_id,secret", "columns"),
        ("timezone=Mars/Olympus", "timezone"),
        ("status=nope", "status"),
        ("limit=10", "limit"),
        ("cursor=abc", "cursor"),
    ],
)
def test_bad_parameters_are_400_before_streaming(api_client, query, name):
    response = api_client.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert not response.streaming
    assert response["Content-Type"] == "application/json"
    assert name in response.json()["detail"]


def test_missing_key_is_401(client):
    response = client.get(URL)

    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("q", ["refund", "-good", "refund -good"])
def test_export_applies_the_search_to_the_whole_set(tenant, api_client, monkeypatch, q):
    monkeypatch.setattr(export, "EXPORT_CHUNK_SIZE", 4)
    words = lambda i: "I want a refund please" if i % 3 == 0 else "All good, thanks"  # noqa: E731
    ingest_call_documents(
        tenant=tenant,
        documents=[bare(i, transcript=[{"role": "human", "text": words(i)}]) for i in range(20)],
    )

    rows = read_csv(api_client.get(URL, {"columns": "call_id", "q": q}))

    assert [r[0] for r in rows[1:]] == [f"e-{i:04d}" for i in reversed(range(20)) if i % 3 == 0]
