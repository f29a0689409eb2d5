"""Transcript search reads each turn's stored vector (PostgreSQL): a term checked call by call
costs row reads, not ``to_tsvector`` over every turn, and the planner samples enough of the
tenant's newest calls to send a term said in about one call in a hundred to that check."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls import queries
from calls.models import Call, Tenant, TranscriptTurn
from calls.services import ingest_call_documents
from tests.calls.factories import transcript_doc

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/api/v1/calls"


def _ingest(tenant: Tenant, count: int, lines: dict[int, str]) -> None:
    """``count`` calls, one a minute, each saying hello; call ``i`` (0 the oldest) then says
    ``lines[i]``, or that it is checking an order."""
    ingest_call_documents(
        tenant=tenant,
        documents=[
            transcript_doc(
                f"c-{i:03d}", i, "Hello, how can I help?", lines.get(i, "Checking my order")
            )
            for i in range(count)
        ],
    )


def _listed(client: Any, params: dict[str, Any]) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [item["call_id"] for item in response.json()["results"]]


def test_turns_store_the_vector_of_their_text(tenant):
    _ingest(tenant, 3, {1: "Zebras at the zoo"})
    TranscriptTurn.objects.filter(text__startswith="Checking").update(text="Ordered zebras")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE "
            f"{queries.TRANSCRIPT_VECTOR_COLUMN} = to_tsvector('english'::regconfig, text)), "
            f"count(*) FILTER (WHERE {queries.TRANSCRIPT_VECTOR_COLUMN} @@ 'zebra'::tsquery) "
            "FROM calls_transcriptturn"
        )
        total, equal, zebra = cursor.fetchone()

    assert total == 6
    assert equal == 6  # also the turns whose text changed after they were written
    assert zebra == 3


def test_calls_are_checked_against_the_stored_vector(tenant, api_client):
    _ingest(tenant, 12, {2: "A zebra", 7: "Zebras"})

    with CaptureQueriesContext(connection) as ctx:
        assert _listed(api_client, {"q": "hello -zebra", "limit": 3}) == ["c-011", "c-010", "c-009"]

    page = next(q["sql"] for q in ctx.captured_queries if "EXISTS" in q["sql"])
    assert f'"{queries.TRANSCRIPT_VECTOR_COLUMN}" @@' in page
    assert "to_tsvector" not in page


def test_planning_samples_the_stored_vectors(tenant):
    _ingest(tenant, 3, {})
    search = queries.plan_transcript_search("hello", tenant_ids=(tenant.pk,))

    with CaptureQueriesContext(connection) as ctx:
        search.terms  # noqa: B018

    (sample,) = [q["sql"] for q in ctx.captured_queries]
    assert f"t.{queries.TRANSCRIPT_VECTOR_COLUMN} AS v" in sample
    assert "to_tsvector" not in sample


def test_a_term_in_one_call_of_a_hundred_is_checked_call_by_call_without_a_probe(
    tenant, api_client
):
    # 200 calls; zebras in two of them, a giraffe in one, none among the 40 newest.
    _ingest(tenant, 200, {20: "Zebras at the zoo", 120: "A zebra!", 60: "A giraffe"})
    zebra = queries.plan_transcript_search("zebra", tenant_ids=(tenant.pk,))
    giraffe = queries.plan_transcript_search("giraffe", tenant_ids=(tenant.pk,))

    with CaptureQueriesContext(connection) as ctx:
        zebra.terms  # noqa: B018

    assert len(ctx.captured_queries) == 1  # the sample alone: the index is not read
    assert zebra.scans and zebra.call_ids is None
    assert _listed(api_client, {"q": "zebra"}) == ["c-120", "c-020"]
    calls = Call.objects.filter(tenant=tenant)
    assert sorted(zebra.apply(calls).values_list("call_id", flat=True)) == ["c-020", "c-120"]
    # Once in 200 calls is below the sampled share: read from the index, every match at once.
    assert not giraffe.scans
    assert giraffe.call_ids == {calls.get(call_id="c-060").pk}
    assert _listed(api_client, {"q": "giraffe"}) == ["c-060"]
