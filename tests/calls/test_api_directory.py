"""``GET /api/v1/agents`` and ``GET /api/v1/workflows``: tenant scoping, pagination, search,
call figures, and how the calls' ``agent`` and ``workflow`` filters treat a name."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import signing
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from calls import directory
from calls.models import Agent, Call, Tenant, Workflow
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db


def agent_call(call_id: str, model_id: str, name: str, start: str, **fields: Any) -> Any:
    return call_doc(
        call_id,
        model_id=model_id,
        agent={"model_id": model_id, "name": name, "type": "inbound"},
        start_time=start,
        end_time=None,
        **fields,
    )


@pytest.fixture
def agents(tenant: Tenant, other_tenant: Tenant) -> None:
    """Acme: Emma (3 calls), Ava (1), Zoe (2); Globex has an Emma of its own with more calls and
    a later one, and an agent only it has."""
    ingest_call_documents(
        tenant=tenant,
        documents=[
            agent_call("e1", "agent-emma", "Emma", "2026-03-01T10:00:00Z"),
            agent_call("e2", "agent-emma", "Emma", "2026-03-03T09:30:00Z"),
            agent_call("e3", "agent-emma", "Emma", "2026-03-02T08:00:00Z"),
            agent_call("a1", "agent-ava", "Ava", "2026-02-01T00:00:00Z"),
            agent_call("z1", "agent-zoe", "Zoe", "2026-03-05T12:00:00Z"),
            agent_call("z2", "agent-zoe", "Zoe", "2026-03-04T12:00:00Z"),
        ],
    )
    ingest_call_documents(
        tenant=other_tenant,
        documents=[
            *(
                agent_call(f"g{i}", "agent-emma", "Emma", f"2026-04-0{i + 1}T10:00:00Z")
                for i in range(5)
            ),
            agent_call("g-only", "globex-agent", "Emmanuel", "2026-04-09T10:00:00Z"),
        ],
    )


def test_agents_are_listed_by_name_with_their_tenants_call_figures(
    api_client: APIClient, agents: None
) -> None:
    response = api_client.get("/api/v1/agents")

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["previous"] is None
    assert body["results"] == [
        {
            "model_id": "agent-ava",
            "name": "Ava",
            "type": "inbound",
            "call_count": 1,
            "last_call_at": "2026-02-01T00:00:00Z",
        },
        {
            "model_id": "agent-emma",
            "name": "Emma",
            "type": "inbound",
            "call_count": 3,
            "last_call_at": "2026-03-03T09:30:00Z",
        },
        {
            "model_id": "agent-zoe",
            "name": "Zoe",
            "type": "inbound",
            "call_count": 2,
            "last_call_at": "2026-03-05T12:00:00Z",
        },
    ]


def test_another_tenants_agents_are_never_listed_nor_counted(
    other_api_client: APIClient, agents: None
) -> None:
    body = other_api_client.get("/api/v1/agents").json()

    assert [(a["model_id"], a["call_count"]) for a in body["results"]] == [
        ("agent-emma", 5),
        ("globex-agent", 1),
    ]
    assert body["results"][0]["last_call_at"] == "2026-04-05T10:00:00Z"


def test_an_agent_without_calls_has_a_zero_count_and_no_last_call(
    api_client: APIClient, tenant: Tenant
) -> None:
    tenant.agents.create(model_id="agent-new", name="Newbie")

    (entry,) = api_client.get("/api/v1/agents").json()["results"]

    assert (entry["model_id"], entry["call_count"], entry["last_call_at"]) == (
        "agent-new",
        0,
        None,
    )


def test_search_takes_a_case_insensitive_name_prefix(api_client: APIClient, agents: None) -> None:
    names = [
        a["name"] for a in api_client.get("/api/v1/agents", {"search": "em"}).json()["results"]
    ]
    assert names == ["Emma"]  # not Globex's Emmanuel
    assert api_client.get("/api/v1/agents", {"search": "mma"}).json()["results"] == []
    everyone = api_client.get("/api/v1/agents", {"search": ""}).json()["results"]
    assert len(everyone) == 3


def test_pages_follow_next_and_previous(api_client: APIClient, tenant: Tenant) -> None:
    # Two agents share a name: the external id orders them.
    for model_id, name in [("b", "Same"), ("a", "Same"), ("c", "Alpha"), ("d", "Zed"), ("e", "")]:
        tenant.agents.create(model_id=model_id, name=name)

    first = api_client.get("/api/v1/agents", {"limit": 2}).json()
    second = api_client.get(first["next"]).json()
    third = api_client.get(second["next"]).json()

    def ids(page: dict[str, Any]) -> list[str]:
        return [a["model_id"] for a in page["results"]]

    assert (ids(first), ids(second), ids(third)) == (["e", "c"], ["a", "b"], ["d"])
    assert first["previous"] is None and third["next"] is None
    assert ids(api_client.get(third["previous"]).json()) == ["a", "b"]
    back = api_client.get(second["previous"]).json()
    assert ids(back) == ["e", "c"] and back["previous"] is None


def test_a_cursor_works_only_for_its_list_and_tenant(
    api_client: APIClient, other_api_client: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for i in range(3):
        tenant.agents.create(model_id=f"a{i}", name=f"A{i}")
        tenant.workflows.create(slug=f"w{i}", name=f"W{i}")
        other_tenant.agents.create(model_id=f"a{i}", name=f"A{i}")
    cursor = api_client.get("/api/v1/agents", {"limit": 1}).json()["next"].split("cursor=")[1]

    for client, url in [(other_api_client, "/api/v1/agents"), (api_client, "/api/v1/workflows")]:
        response = client.get(url, {"cursor": cursor})
        assert response.status_code == 400
        assert "cursor" in response.json()["detail"]
    assert api_client.get("/api/v1/agents", {"cursor": cursor + "x"}).status_code == 400


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"search": "x" * 201}, "search"),
        ({"name": "Emma"}, "'name'"),
        ({"limit": [1, 2]}, "more than once: 'limit'"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    api_client: APIClient, params: dict[str, Any], named: str
) -> None:
    for url in ("/api/v1/agents", "/api/v1/workflows"):
        response = api_client.get(url, params)
        assert response.status_code == 400
        assert named in response.json()["detail"]


def test_workflows_are_listed_with_their_slug_and_figures(
    api_client: APIClient, other_api_client: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    workflow = {"slug": "renewals", "name": "Renewals"}
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc("r1", workflow=workflow, start_time="2026-03-01T10:00:00Z"),
            call_doc("r2", workflow=workflow, start_time="2026-03-07T10:00:00Z"),
            call_doc("d1", start_time="2026-03-02T10:00:00Z"),
        ],
    )
    ingest_call_documents(tenant=other_tenant, documents=[call_doc("x1", workflow=workflow)])

    body = api_client.get("/api/v1/workflows").json()

    assert body["results"] == [
        {
            "slug": "daily-call",
            "name": "Daily Health Check",
            "call_count": 1,
            "last_call_at": "2026-03-02T10:00:00Z",
        },
        {
            "slug": "renewals",
            "name": "Renewals",
            "call_count": 2,
            "last_call_at": "2026-03-07T10:00:00Z",
        },
    ]
    searched = api_client.get("/api/v1/workflows", {"search": "REN"}).json()["results"]
    assert [w["slug"] for w in searched] == ["renewals"]
    other = other_api_client.get("/api/v1/workflows").json()["results"]
    assert [(w["slug"], w["call_count"]) for w in other] == [("renewals", 1)]


def test_a_page_costs_the_same_queries_however_many_agents_the_tenant_has(
    api_client: APIClient, tenant: Tenant
) -> None:
    def queries_for_page() -> int:
        api_client.get("/api/v1/agents")  # the key's last use is written at most once a minute
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get("/api/v1/agents", {"limit": 5}).status_code == 200
        return len(captured)

    for i in range(5):
        ingest_call_documents(
            tenant=tenant, documents=[agent_call(f"c{i}", f"m{i}", f"N{i}", "2026-03-01T10:00:00Z")]
        )
    few = queries_for_page()
    for i in range(5, 30):
        ingest_call_documents(
            tenant=tenant, documents=[agent_call(f"c{i}", f"m{i}", f"N{i}", "2026-03-01T10:00:00Z")]
        )
    assert queries_for_page() == few


def test_cached_figures_follow_the_tenants_writes(
    api_client: APIClient, tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CALL_COUNT_CACHE = True
    ingest_call_documents(
        tenant=tenant, documents=[agent_call("c1", "m", "Mia", "2026-03-01T10:00:00Z")]
    )
    assert api_client.get("/api/v1/agents").json()["results"][0]["call_count"] == 1
    # Served from the cache until a write moves the generation.
    with CaptureQueriesContext(connection) as captured:
        api_client.get("/api/v1/agents")
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]

    with django_capture_on_commit_callbacks(execute=True):  # the commit moves the generation
        ingest_call_documents(
            tenant=tenant, documents=[agent_call("c2", "m", "Mia", "2026-03-09T10:00:00Z")]
        )

    (entry,) = api_client.get("/api/v1/agents").json()["results"]
    assert (entry["call_count"], entry["last_call_at"]) == (2, "2026-03-09T10:00:00Z")


@pytest.mark.postgres
@pytest.mark.parametrize("kind", [directory.AGENTS, directory.WORKFLOWS], ids=lambda k: k.name)
def test_the_figures_are_read_through_an_index_on_the_pages_entries(
    tenant: Tenant, kind: directory.DirectoryKind[Any]
) -> None:
    # Enough calls over enough entries that the planner's choice is the one of a real tenant
    # (on an empty table any tenant-leading index costs the same).
    entries = [
        Agent.objects.create(tenant=tenant, model_id=f"m-{n}", name=f"Agent {n}")
        if kind is directory.AGENTS
        else Workflow.objects.create(tenant=tenant, slug=f"w-{n}", name=f"Workflow {n}")
        for n in range(40)
    ]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    Call.objects.bulk_create(
        Call(
            tenant=tenant,
            call_id=f"c-{n}",
            status="completed",
            start_time=start + timedelta(minutes=n),
            **{kind.call_field: entries[n % len(entries)]},
        )
        for n in range(4000)
    )
    query = directory.figures_query(
        kind, tenant_id=tenant.pk, pks=[entry.pk for entry in entries[:3]]
    )
    sql, params = query.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_call")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # The page's entries bound the read through an index (the entry's foreign key index or a
    # tenant-and-entry one, whichever the planner prefers); never the tenant's whole table.
    assert re.search(rf"Index Cond: .*{kind.call_field}_id = ANY", plan), plan
    assert "Seq Scan" not in plan


# --- names where the call filters take ids -------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/calls", "/api/v1/calls/export.csv"])
def test_an_agent_name_given_for_a_model_id_is_a_400_that_says_where_ids_are(
    api_client: APIClient, agents: None, url: str
) -> None:
    response = api_client.get(url, {"agent": "emma"})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "unknown agent 'emma'" in detail
    assert "model_id 'agent-emma'" in detail
    assert "agents are listed at /api/v1/agents" in detail
    assert response.json()["errors"][0]["field"] == "agent"


def test_a_name_mixed_with_a_known_id_is_refused_too(api_client: APIClient, agents: None) -> None:
    response = api_client.get("/api/v1/calls", {"agent": "agent-ava,Zoe"})

    assert response.status_code == 400
    assert "unknown agent 'Zoe'" in response.json()["detail"]


def test_another_tenants_agent_name_is_no_hint(api_client: APIClient, agents: None) -> None:
    # Emmanuel is Globex's: for Acme the value names nothing, so it matches no call.
    response = api_client.get("/api/v1/calls", {"agent": "Emmanuel"})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_model_ids_still_filter(api_client: APIClient, agents: None) -> None:
    results = api_client.get("/api/v1/calls", {"agent": "agent-emma,agent-ava"}).json()["results"]

    assert sorted(r["call_id"] for r in results) == ["a1", "e1", "e2", "e3"]


def test_a_workflow_name_given_for_a_slug_is_a_400(
    api_client: APIClient, tenant: Tenant, make_client: Callable[[Tenant], APIClient]
) -> None:
    ingest_call_documents(tenant=tenant, documents=[call_doc("c1")])

    response = api_client.get("/api/v1/calls", {"workflow": "Daily Health Check"})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "slug 'daily-call'" in detail
    assert "workflows are listed at /api/v1/workflows" in detail
    assert len(api_client.get("/api/v1/calls", {"workflow": "daily-call"}).json()["results"]) == 1


def test_a_cursor_of_a_non_ascii_name_round_trips_as_compactly_as_the_call_lists(
    tenant: Tenant,
) -> None:
    cursor = directory.DirectoryCursor("Zoë Müller-Łukasiewicz", "agent-zoë")

    token = cursor.token(kind=directory.AGENTS, tenant_id=tenant.pk)

    # Signed like the call list's cursors: compact UTF-8 JSON, shorter than signing's default
    # encoding, which escapes every non-ASCII character as \\uXXXX.
    escaped = signing.Signer(salt="any").sign_object([cursor.name, cursor.key, False])
    assert len(token) < len(escaped)
    assert directory.DirectoryCursor.parse(token, kind=directory.AGENTS, tenant_id=tenant.pk) == (
        cursor
    )
