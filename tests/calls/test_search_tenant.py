"""Transcript search is tenant-first: turns carry their call's tenant, the full-text index leads
with it, and a search's plan, result and cost depend on the searching tenant's turns alone."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from calls import queries
from calls.models import Call, Tenant, TranscriptTurn
from calls.services import ingest_call_documents
from tests.calls.factories import transcript_doc

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"


@pytest.fixture
def own_calls(tenant: Tenant) -> dict[str, int]:
    """Ten calls of ``tenant`` that all say hello; one of them mentions a zebra."""
    docs = [
        transcript_doc(f"c-{i}", i, "Hello, how can I help?", "Just checking the schedule")
        for i in range(9)
    ]
    docs.append(transcript_doc("c-zebra", 9, "Hello, how can I help?", "I saw a zebra at the zoo"))
    ingest_call_documents(tenant=tenant, documents=docs)
    return dict(Call.objects.filter(tenant=tenant).values_list("call_id", "pk"))


def _flood(tenant: Tenant, calls: int = 12) -> None:
    """Newer calls of ``tenant`` saying zebra in every turn."""
    ingest_call_documents(
        tenant=tenant,
        documents=[
            transcript_doc(
                f"z-{i}", 100 + i, "Zebra stripes", "Zebras everywhere", "More zebra talk"
            )
            for i in range(calls)
        ],
    )


def _listed(client: Any, params: dict[str, Any]) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [item["call_id"] for item in response.json()["results"]]


# --- the column ----------------------------------------------------------------------------------


def test_ingested_turns_carry_their_calls_tenant(tenant, other_tenant):
    ingest_call_documents(tenant=tenant, documents=[transcript_doc("c-1", 0, "Hi", "Hello")])
    ingest_call_documents(
        tenant=other_tenant, documents=[transcript_doc("c-1", 0, "Hi", "Hello", "Bye")]
    )
    # A resend that replaces the transcript writes the new turns with the tenant too.
    ingest_call_documents(
        tenant=tenant,
        documents=[transcript_doc("c-1", 0, "Hi", "Hello", "Again")],
    )

    by_tenant = {t: TranscriptTurn.objects.filter(tenant=t).count() for t in (tenant, other_tenant)}
    assert by_tenant == {tenant: 3, other_tenant: 3}
    assert not TranscriptTurn.objects.exclude(tenant_id=F("call__tenant_id")).exists()


def test_turns_written_without_a_tenant_get_their_calls(tenant):
    ingest_call_documents(tenant=tenant, documents=[transcript_doc("c-1", 0, "Hi")])
    call = Call.objects.get(call_id="c-1")

    created = TranscriptTurn.objects.create(call=call, position=5, role="bot", text="one")
    bulk = TranscriptTurn.objects.bulk_create(
        [TranscriptTurn(call=call, position=6, role="bot", text="two")]
    )

    assert created.tenant_id == tenant.pk
    assert [turn.tenant_id for turn in bulk] == [tenant.pk]
    assert TranscriptTurn.objects.filter(call=call, tenant=tenant).count() == 3


def test_demo_turns_carry_the_tenant():
    call_command(
        "seed_demo",
        tenant="demo-search",
        calls=30,
        days=3,
        seed=3,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    demo = Tenant.objects.get(slug="demo-search")

    assert TranscriptTurn.objects.filter(tenant=demo).exists()
    assert not TranscriptTurn.objects.exclude(tenant_id=F("call__tenant_id")).exists()


# --- search results ------------------------------------------------------------------------------


def test_search_finds_only_this_tenants_calls_however_many_others_match(
    own_calls, tenant, other_tenant, api_client, monkeypatch
):
    monkeypatch.setattr(queries, "SEARCH_PROBE_LIMIT", 5)
    _flood(other_tenant)

    # The other tenant's matches sit under its own tenant in the index, and are never listed.
    assert TranscriptTurn.objects.filter(tenant=other_tenant, text__icontains="zebra").count() == 36
    assert _listed(api_client, {"q": "zebra"}) == ["c-zebra"]
    assert len(_listed(api_client, {"q": "hello", "limit": 50})) == 10
    assert _listed(api_client, {"q": "hello -zebra", "limit": 50}) == [
        f"c-{i}" for i in reversed(range(9))
    ]


# --- PostgreSQL: the index and the plan ----------------------------------------------------------


@pytest.mark.postgres
def test_candidate_lookup_reads_the_tenant_first_index(own_calls, tenant):
    turns = queries._matching_turns("zebra", tenant_id=tenant.pk).values_list("call_id")
    sql, params = turns.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]

    index_scan = next(i for i, line in enumerate(plan) if queries.TRANSCRIPT_INDEX in line)
    index_cond = plan[index_scan + 1]
    assert "Index Cond" in index_cond
    assert "tenant_id =" in index_cond
    assert "to_tsvector" in index_cond
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [queries.TRANSCRIPT_INDEX])
        definition = cursor.fetchone()[0]
    assert "gin (tenant_id, to_tsvector('english'::regconfig, text))" in definition


@pytest.mark.postgres
def test_another_tenants_matches_change_neither_the_plan_nor_the_result(
    own_calls, tenant, other_tenant, monkeypatch
):
    monkeypatch.setattr(queries, "SEARCH_PROBE_LIMIT", 5)

    def plan(text: str) -> queries.TranscriptSearch:
        search = queries.plan_transcript_search(text, tenant_ids=(tenant.pk,))
        search.terms  # noqa: B018  (plans now, with the data as it is)
        return search

    before = {text: plan(text) for text in ("zebra", "hello", "hello zebra", "the")}
    # The other tenant says zebra in every turn of its newest calls: more matching turns than
    # the probe reads, in more than the sampled share of the newest calls of the table.
    _flood(other_tenant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_transcriptturn")
    after = {text: plan(text) for text in before}

    assert {t: s.terms for t, s in after.items()} == {t: s.terms for t, s in before.items()}
    zebra = {own_calls["c-zebra"]}
    assert not after["zebra"].scans and after["zebra"].call_ids == zebra
    assert after["hello"].scans and after["hello"].call_ids is None
    assert not after["hello zebra"].scans and after["hello zebra"].call_ids == zebra
    assert not after["the"].scans
    calls = Call.objects.filter(tenant=tenant)
    assert list(after["zebra"].apply(calls).values_list("call_id", flat=True)) == ["c-zebra"]
    # Read for every tenant at once, the same word is common: the probe overflows.
    assert queries.plan_transcript_search("zebra").scans


@pytest.mark.postgres
def test_planning_reads_only_the_searching_tenants_rows(own_calls, tenant, other_tenant):
    _flood(other_tenant)
    search = queries.plan_transcript_search("zebra -hello", tenant_ids=(tenant.pk,))

    with CaptureQueriesContext(connection) as ctx:
        search.terms  # noqa: B018

    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) == 2  # the sample of newest calls, then the probe of the rare term
    assert "pg_stats" not in " ".join(statements)
    assert f'"tenant_id" = ({tenant.pk})::bigint' in statements[1]
    assert f"tenant_id = {tenant.pk}" in statements[0]
