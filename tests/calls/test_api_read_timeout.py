"""The statement timeout of API reads (``config.api.middleware.ReadStatementTimeoutMiddleware``):
a read whose SQL statement runs too long is a 503 in its family's shape; writes, later requests
and the connection's later statements never inherit the limit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from analytics.queries import sales as sales_queries
from calls import queries
from calls.api import views
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

# Real transactions, as in production: a cancelled statement must not poison a test-wide one.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 100


@pytest.fixture(autouse=True)
def _short_timeout(settings):
    cache.clear()
    settings.API_READ_STATEMENT_TIMEOUT_MS = TIMEOUT_MS


def run_slow_statement() -> None:
    """A statement that runs for seconds unless the database cancels it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_sleep(3)")
        else:
            cursor.execute(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
                "WHERE n < 100000000) SELECT count(*) FROM r"
            )


def slow(*args: Any, **kwargs: Any) -> Any:
    run_slow_statement()
    raise AssertionError("the slow statement was not cancelled")


def statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    ("url", "target", "body_of"),
    [
        ("/api/v1/calls/c-1", (queries, "call_detail"), lambda b: b["detail"]),
        ("/v2/calls/c-1", (queries, "synthflow_call"), lambda b: b["detail"]["description"]),
        (
            "/api/v1/analytics/funnel",
            (sales_queries, "sales_funnel"),
            lambda b: b["message"],
        ),
    ],
)
def test_a_read_past_the_timeout_is_a_503_in_its_family_shape(
    api_client, monkeypatch, url, target, body_of
):
    monkeypatch.setattr(*target, slow)
    started = time.monotonic()

    response = api_client.get(url)

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert "took too long" in body_of(response.json())
    if url.startswith("/v2/"):
        assert response.json()["detail"]["category"] == "unavailable"
    if "funnel" in url:
        assert response.json()["error"] == "unavailable"
    # The connection is usable afterwards.
    assert api_client.get("/api/v1/calls").status_code == 200


def test_a_slow_filter_of_the_list_is_a_503(api_client, monkeypatch):
    def slow_filter(queryset, filters, **kwargs):
        run_slow_statement()
        return queryset

    monkeypatch.setattr(queries, "filter_variables", slow_filter)

    response = api_client.get("/api/v1/calls", {"var.plan": "gold"})

    assert response.status_code == 503
    assert response.json()["detail"].startswith("The request took too long")


def test_writes_run_without_the_read_timeout(tenant, api_client, monkeypatch):
    monkeypatch.setattr(queries, "call_detail", slow)
    assert api_client.get("/api/v1/calls/c-1").status_code == 503

    original = views.ingest_call_documents

    def slow_ingest(**kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_sleep(0.3)"
                if connection.vendor == "postgresql"
                else "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
                "WHERE n < 2000000) SELECT count(*) FROM r"
            )
        return original(**kwargs)

    monkeypatch.setattr(views, "ingest_call_documents", slow_ingest)
    started = time.monotonic()
    response = api_client.post("/api/v1/calls", call_doc("c-1"), format="json")

    assert response.status_code in (200, 201), response.json()
    if connection.vendor == "postgresql":
        assert time.monotonic() - started >= 0.3  # the sleep ran to its end


def test_zero_disables_the_timeout(api_client, settings, monkeypatch):
    settings.API_READ_STATEMENT_TIMEOUT_MS = 0

    def short_sleep(**kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_sleep(0.3)"
                if connection.vendor == "postgresql"
                else "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
                "WHERE n < 2000000) SELECT count(*) FROM r"
            )

    monkeypatch.setattr(queries, "call_detail", short_sleep)
    assert api_client.get("/api/v1/calls/c-1").status_code == 404
    settings.API_READ_STATEMENT_TIMEOUT_MS = TIMEOUT_MS
    assert api_client.get("/api/v1/calls/c-1").status_code == 503


@pytest.mark.postgres
def test_the_limit_is_set_during_a_read_and_never_left_on_the_connection(
    tenant, api_client, monkeypatch
):
    before = statement_timeout()
    seen: list[str] = []
    original = queries.call_detail

    def record(**kwargs: Any) -> Any:
        seen.append(statement_timeout())
        return original(**kwargs)

    monkeypatch.setattr(queries, "call_detail", record)
    api_client.get("/api/v1/calls/c-1")

    assert seen == [f"{TIMEOUT_MS}ms"]
    assert statement_timeout() == before
    # Nor after a cancelled statement.
    monkeypatch.setattr(queries, "call_detail", slow)
    assert api_client.get("/api/v1/calls/c-1").status_code == 503
    assert statement_timeout() == before


@pytest.mark.postgres
def test_a_streamed_export_is_limited_until_the_response_closes(tenant, api_client, monkeypatch):
    ingest_call_documents(tenant=tenant, documents=[call_doc(f"c-{n}") for n in range(3)])
    before = statement_timeout()
    seen: list[str] = []
    original = queries.variables_of

    def record(call_pks: Any) -> Any:
        seen.append(statement_timeout())
        return original(call_pks)

    monkeypatch.setattr(queries, "variables_of", record)
    response = api_client.get(
        "/api/v1/calls/export.csv", {"columns": "call_id,collected_variables"}
    )
    rows = b"".join(response.streaming_content).decode().splitlines()
    response.close()

    assert len(rows) == 4
    assert seen == [f"{TIMEOUT_MS}ms"]  # queried while streaming, after the view returned
    assert statement_timeout() == before


@pytest.mark.postgres
def test_a_streamed_export_closed_unread_resets_the_limit(tenant, api_client):
    before = statement_timeout()

    response = api_client.get("/api/v1/calls/export.csv")
    assert statement_timeout() == f"{TIMEOUT_MS}ms"
    response.close()

    assert statement_timeout() == before
