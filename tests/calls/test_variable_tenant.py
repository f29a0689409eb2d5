"""``var.<name>=<value>`` filters read only the filtering tenant's variables: every writer copies
the call's tenant onto its variables, and ``queries.filter_variables`` reads the tenant-first
index ``variable_tenant_name_value_idx`` with the tenant in its index condition."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F

from calls import queries
from calls.models import Call, CollectedVariable, Tenant
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/calls"
EXPORT_URL = "/api/v1/calls/export.csv"
INDEX = "variable_tenant_name_value_idx"


def plan_doc(call_id: str, plan: Any, **others: Any) -> dict[str, Any]:
    return call_doc(call_id, collected_variables={"agent_a": {"plan": plan, **others}})


@pytest.fixture
def tenant_calls(tenant: Tenant) -> None:
    ingest_call_documents(
        tenant=tenant,
        documents=[
            plan_doc("gold-1", "gold", region="eu"),
            plan_doc("gold-2", "gold", region="us"),
            plan_doc("silver-1", "silver", region="eu"),
        ],
    )


def other_tenant_variables(other_tenant: Tenant, calls: int) -> None:
    """``calls`` calls of ``other_tenant`` carrying the very variables the tests filter on, some
    under the same call ids as the tenant's."""
    docs = [plan_doc("gold-1", "gold", region="eu"), plan_doc("silver-1", "gold", region="us")]
    docs += [plan_doc(f"o-{n}", "gold", region="eu") for n in range(calls - len(docs))]
    ingest_call_documents(tenant=other_tenant, documents=docs)


def listed(client: Any, params: dict[str, str]) -> list[str]:
    response = client.get(LIST_URL, params)
    assert response.status_code == 200, response.content
    return [item["call_id"] for item in response.json()["results"]]


def exported(client: Any, params: dict[str, str]) -> list[str]:
    response = client.get(EXPORT_URL, {**params, "columns": "call_id"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    return sorted(lines[1:])


# --- writers ---------------------------------------------------------------------------------


def test_ingestion_copies_the_calls_tenant_onto_its_variables(tenant, other_tenant):
    ingest_call_documents(tenant=tenant, documents=[plan_doc("c-1", "gold", region="eu")])
    ingest_call_documents(tenant=other_tenant, documents=[plan_doc("c-1", "gold")])
    # A later document replaces the variables: the new rows carry the tenant too.
    ingest_call_documents(
        tenant=tenant, documents=[plan_doc("c-1", "silver", region="us", seats=3)]
    )

    rows = set(CollectedVariable.objects.values_list("call__call_id", "name", "tenant_id"))
    assert rows == {
        ("c-1", "plan", tenant.pk),
        ("c-1", "region", tenant.pk),
        ("c-1", "seats", tenant.pk),
        ("c-1", "plan", other_tenant.pk),
    }


def test_a_variable_saved_or_bulk_created_without_tenant_gets_the_calls(tenant):
    ingest_call_documents(tenant=tenant, documents=[call_doc("c-1", collected_variables={})])
    call = Call.objects.get(call_id="c-1")

    saved = CollectedVariable.objects.create(call=call, agent_key="a", name="plan", value="x")
    (bulk,) = CollectedVariable.objects.bulk_create(
        [CollectedVariable(call=call, agent_key="a", name="region", value="eu")]
    )

    assert saved.tenant_id == bulk.tenant_id == tenant.pk
    assert CollectedVariable.objects.filter(tenant=tenant).count() == 2


def test_the_demo_generator_writes_the_tenant_of_every_variable():
    call_command(
        "seed_demo", tenant="demo", calls=60, days=7, seed=3, until="2026-03-01", verbosity=0
    )

    variables = CollectedVariable.objects.filter(call__tenant__slug="demo")
    assert variables.exists()
    assert not variables.exclude(tenant_id=F("call__tenant_id")).exists()


# --- the filter ------------------------------------------------------------------------------


def test_another_tenants_variables_never_change_the_result(
    tenant_calls, tenant, other_tenant, api_client
):
    cases = [
        {"var.plan": "gold"},
        {"var.plan": "gold", "var.region": "eu"},
        {"var.plan": "silver"},
        {"var.region": "us"},
    ]
    before = [(listed(api_client, p), exported(api_client, p)) for p in cases]

    other_tenant_variables(other_tenant, calls=40)
    after = [(listed(api_client, p), exported(api_client, p)) for p in cases]

    assert before == after
    assert before[0][0] == ["gold-2", "gold-1"]
    assert before[1][1] == ["gold-1"]
    assert before[2][0] == ["silver-1"]
    assert before[3][1] == ["gold-2"]


def test_the_filter_reads_only_the_given_tenants_variables(tenant_calls, tenant, other_tenant):
    other_tenant_variables(other_tenant, calls=5)
    calls = Call.objects.filter(tenant=tenant)

    def matching(filters: list[tuple[str, str]], tenant_id: int) -> list[str]:
        queryset = queries.filter_variables(calls, filters, tenant_id=tenant_id)
        return sorted(queryset.values_list("call_id", flat=True))

    assert matching([("plan", "gold")], tenant.pk) == ["gold-1", "gold-2"]
    assert matching([("plan", "gold"), ("region", "eu")], tenant.pk) == ["gold-1"]
    # The tenant's calls, read through another tenant's variables: the subquery names the
    # tenant, so none of the tenant's calls match.
    assert matching([("plan", "gold")], other_tenant.pk) == []
    assert matching([("plan", "gold"), ("region", "eu")], other_tenant.pk) == []


def test_variable_filters_without_a_tenant_are_refused(tenant):
    calls = Call.objects.filter(tenant=tenant)

    with pytest.raises(ValueError, match="tenant"):
        queries.filter_variables(calls, [("plan", "gold")], tenant_id=None)
    # Without filters there is nothing to read.
    assert queries.filter_variables(calls, [], tenant_id=None) is calls


def index_scans(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [node["Plan"] for node in plan]
    while stack:
        node = stack.pop()
        if node.get("Index Name") == INDEX:
            found.append(node)
        stack.extend(node.get("Plans", []))
    return found


def explain(queryset: Any, *, analyze: bool = False) -> list[dict[str, Any]]:
    sql, params = queryset.query.sql_with_params()
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    with connection.cursor() as cursor:
        # A handful of rows would be read by sequential scans: plan as for a large table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN ({options}) {sql}", params)
        raw = cursor.fetchone()[0]
    return raw if isinstance(raw, list) else json.loads(raw)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "filters", [[("plan", "gold")], [("plan", "gold"), ("region", "eu"), ("seats", "3")]]
)
def test_the_index_lookup_has_the_tenant_in_its_condition(tenant_calls, tenant, filters):
    calls = Call.objects.filter(tenant=tenant)
    queryset = queries.filter_variables(calls, filters, tenant_id=tenant.pk)[:20]

    scans = index_scans(explain(queryset))

    assert len(scans) == len(filters)
    for scan in scans:
        assert scan["Node Type"] == "Index Only Scan"
        assert f"(tenant_id = {tenant.pk})" in scan["Index Cond"]
        assert "name = " in scan["Index Cond"]


@pytest.mark.postgres
def test_another_tenants_entries_are_not_read(tenant_calls, tenant, other_tenant):
    other_tenant_variables(other_tenant, calls=30)
    calls = Call.objects.filter(tenant=tenant)
    queryset = queries.filter_variables(calls, [("plan", "gold")], tenant_id=tenant.pk)

    (scan,) = index_scans(explain(queryset, analyze=True))

    # Each read of the range returns the tenant's two entries, none of the other tenant's
    # thirty (``Actual Rows`` is per loop).
    assert f"(tenant_id = {tenant.pk})" in scan["Index Cond"]
    assert scan["Actual Rows"] == 2
