"""Caps on the call list and export filters (``calls.api.filters``), and the shape of the
variable filter query."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from calls import queries
from calls.api import export
from calls.api.filters import (
    MAX_LIST_VALUES,
    MAX_SEARCH_LENGTH,
    MAX_VARIABLE_FILTERS,
    MAX_VARIABLE_VALUES,
)
from calls.models import Call
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/calls"
EXPORT_URL = "/api/v1/calls/export.csv"
NAMES = [f"v{n}" for n in range(MAX_VARIABLE_FILTERS + 1)]


def variables_doc(call_id: str, values: dict[str, Any], other_agent: dict[str, Any]) -> dict:
    return call_doc(
        call_id,
        collected_variables={"agent_a": values, "agent_b": other_agent},
    )


@pytest.fixture
def variable_calls(tenant, other_tenant):
    every = {name: n for n, name in enumerate(NAMES)}
    docs = [
        # Every name, with the value n under agent_a and "x" under agent_b.
        variables_doc("all", every, {"v0": "x"}),
        # Every name but the last allowed one.
        variables_doc("all-but-one", {k: v for k, v in every.items() if k != "v9"}, {}),
        # v0 is null under agent_a and "null" (the string) under agent_b.
        variables_doc("nulls", {**every, "v0": None}, {"v0": "null"}),
    ]
    ingest_call_documents(tenant=tenant, documents=docs)
    # Another tenant's identical calls never appear.
    ingest_call_documents(
        tenant=other_tenant, documents=[{**doc, "call_id": "o-" + doc["call_id"]} for doc in docs]
    )


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return sorted(call["call_id"] for call in response.json()["results"])


def assert_refused(response, field: str, message: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == [{"field": field, "message": message}]
    assert body["detail"] == f"Invalid query parameter(s): {field}: {message}"


def test_up_to_the_variable_filter_cap_filters_and_one_more_is_refused(variable_calls, api_client):
    allowed = {f"var.{name}": str(n) for n, name in enumerate(NAMES[:MAX_VARIABLE_FILTERS])}

    assert ids(api_client.get(LIST_URL, allowed)) == ["all"]
    one_more = {**allowed, f"var.{NAMES[-1]}": str(MAX_VARIABLE_FILTERS)}
    assert_refused(
        api_client.get(LIST_URL, one_more),
        f"var.{NAMES[-1]}",
        f"at most {MAX_VARIABLE_FILTERS} var.<name> filters per request",
    )
    assert_refused(
        api_client.get(EXPORT_URL, one_more),
        f"var.{NAMES[-1]}",
        f"at most {MAX_VARIABLE_FILTERS} var.<name> filters per request",
    )


def test_every_value_of_a_repeated_variable_must_match_up_to_the_values_cap(
    variable_calls, api_client
):
    # v0 is 0 under agent_a and "x" under agent_b in "all" only.
    assert ids(api_client.get(LIST_URL, {"var.v0": ["0", "x"]})) == ["all"]
    # null matches the JSON null, and the string "null" too; both agents of "nulls" carry one.
    assert ids(api_client.get(LIST_URL, {"var.v0": ["null"]})) == ["nulls"]
    assert ids(api_client.get(LIST_URL, {"var.v0": ["0"] * MAX_VARIABLE_VALUES})) == [
        "all",
        "all-but-one",
    ]

    too_many = {"var.v0": ["0"] * (MAX_VARIABLE_VALUES + 1)}
    assert_refused(
        api_client.get(LIST_URL, too_many), "var.v0", f"at most {MAX_VARIABLE_VALUES} values"
    )


@pytest.mark.parametrize(
    ("url", "name", "value", "cap"),
    [
        (LIST_URL, "agent", "agent-1", MAX_LIST_VALUES),
        (LIST_URL, "status", "completed", MAX_LIST_VALUES),
        (LIST_URL, "label", "vip", MAX_LIST_VALUES),
        (EXPORT_URL, "end_reason", "voicemail", MAX_LIST_VALUES),
        # Every column once.
        (EXPORT_URL, "columns", "call_id", len(export.COLUMNS)),
    ],
)
def test_list_parameters_take_at_most_their_cap_of_values(api_client, url, name, value, cap):
    at_cap = api_client.get(url, {name: ",".join([value] * cap)})
    assert at_cap.status_code == 200

    response = api_client.get(url, {name: ",".join([value] * (cap + 1))})
    assert_refused(response, name, f"at most {cap} values")


def test_search_text_is_capped(api_client):
    assert api_client.get(LIST_URL, {"q": "a" * MAX_SEARCH_LENGTH}).status_code == 200

    response = api_client.get(LIST_URL, {"q": "a" * (MAX_SEARCH_LENGTH + 1)})
    assert_refused(response, "q", f"at most {MAX_SEARCH_LENGTH} characters")


def test_openapi_states_the_caps(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/calls"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert parameters["agent"]["schema"]["maxItems"] == MAX_LIST_VALUES
    assert parameters["q"]["schema"]["maxLength"] == MAX_SEARCH_LENGTH
    assert (
        f"At most {MAX_VARIABLE_FILTERS} variable names per request, each given at most "
        f"{MAX_VARIABLE_VALUES} times" in operation["description"]
    )


def test_variable_filters_are_one_subquery_whatever_their_number(tenant):
    calls = Call.objects.filter(tenant=tenant)
    filters = [(name, "1") for name in NAMES[:MAX_VARIABLE_FILTERS]]
    sql = str(queries.filter_variables(calls, filters, tenant_id=tenant.pk).query).upper()

    # No correlated EXISTS per filter: on PostgreSQL one chain of narrowing steps, elsewhere one
    # intersection of index ranges.
    assert "EXISTS" not in sql
    if connection.vendor == "postgresql":
        assert sql.count("AS MATERIALIZED") == MAX_VARIABLE_FILTERS
    else:
        assert sql.count("INTERSECT") == MAX_VARIABLE_FILTERS - 1


@pytest.mark.postgres
def test_variable_filters_read_the_name_value_index(variable_calls, tenant):
    calls = Call.objects.filter(tenant=tenant)
    filters = [(name, str(n)) for n, name in enumerate(NAMES[:MAX_VARIABLE_FILTERS])]
    queryset = queries.filter_variables(calls, filters, tenant_id=tenant.pk)
    queryset = queryset.order_by("-start_time")[:21]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A handful of rows would be read by sequential scans: plan as for a large table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # The first (smallest) step reads its range of the tenant-first index; each later step
    # reads either its own range or the variables of the previous step's calls (both bounded
    # by an index, whichever the planner estimates cheaper on this tiny table).
    assert "variable_tenant_name_value_idx" in plan
    assert plan.count("CTE step_") == MAX_VARIABLE_FILTERS
    assert "Seq Scan on calls_collectedvariable" not in plan
    assert "SubPlan" not in plan  # nothing evaluated per call
