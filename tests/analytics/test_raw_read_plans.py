"""Raw fact reads stay inside the asking tenant's index entries, however large another tenant is.

A second tenant holds about 50,000 calls, with their executed actions, latency samples, error
logs, activity events and leads, in the same days as the tenant under test (a few hundred calls).
After ``ANALYZE``, every query that the analytics endpoints and the admin dashboard send to those
tables, with every fact read from raw rows (``raw_only``), for windows ending at the small
tenant's newest call (its last three hours, a partial day, and its last two days), is planned
without a sequential scan of them, and every index read of them names ``tenant_id``: in its index
condition, or as a filter on a tenant-first index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.dashboard import Scope, build_dashboard
from analytics.facts import raw_only
from analytics.windows import Window
from calls.bulk import BulkWriter
from calls.models import (
    ActivityEvent,
    Agent,
    Call,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    Workflow,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

FACT_MODELS: tuple[type[Model], ...] = (
    Call,
    ExecutedAction,
    LatencySample,
    ErrorLog,
    ActivityEvent,
    Lead,
)
FACT_TABLES = frozenset(model._meta.db_table for model in FACT_MODELS)
SMALL_CALLS = 300
# Copies of the small tenant's rows the large tenant holds: 170 x 300 = 51,000 calls.
COPIES = 170


# --- Data ----------------------------------------------------------------------------------------


def copy_rows(
    model: type[Model],
    *,
    source: Tenant,
    target: Tenant,
    copies: int,
    overrides: dict[str, str] | None = None,
    joins: str = "",
) -> None:
    """Inserts ``copies`` copies (``g.n`` = 1 … ``copies``) of ``source``'s rows of ``model`` as
    rows of ``target``, in one ``INSERT … SELECT``: columns are copied from the source row ``s``
    unless ``overrides`` gives their SQL (over ``s``, ``g`` and ``joins``)."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if f.column and not f.primary_key]
    values = {"tenant_id": str(target.pk), **(overrides or {})}
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    select = ", ".join(values.get(c, f"s.{connection.ops.quote_name(c)}") for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) "
            f"SELECT {select} FROM {table} s CROSS JOIN generate_series(1, %s) AS g(n) {joins} "
            "WHERE s.tenant_id = %s",
            [copies, source.pk],
        )


def copy_tenant(source: Tenant, target: Tenant, copies: int) -> None:
    """``copies`` copies of every fact row of ``source`` (its agents and workflows once) in
    ``target``, each copy pointing at its own copied call, lead, agent and workflow."""
    t = target.pk
    suffixed = "s.{0} || '-' || g.n"
    copy_rows(Agent, source=source, target=target, copies=1)
    copy_rows(Workflow, source=source, target=target, copies=1)
    agent_join = (
        "LEFT JOIN calls_agent sa ON sa.id = s.agent_id "
        f"LEFT JOIN calls_agent ta ON ta.tenant_id = {t} AND ta.model_id = sa.model_id"
    )
    workflow_join = (
        "LEFT JOIN calls_workflow sw ON sw.id = s.workflow_id "
        f"LEFT JOIN calls_workflow tw ON tw.tenant_id = {t} AND tw.slug = sw.slug"
    )
    lead_join = (
        "LEFT JOIN calls_lead sl ON sl.id = s.lead_id "
        f"LEFT JOIN calls_lead tl ON tl.tenant_id = {t} AND tl.lead_id = sl.lead_id || '-' || g.n"
    )
    call_join = (
        "LEFT JOIN calls_call sc ON sc.id = s.call_id "
        f"LEFT JOIN calls_call tc ON tc.tenant_id = {t} AND tc.call_id = sc.call_id || '-' || g.n"
    )
    copy_rows(
        Lead,
        source=source,
        target=target,
        copies=copies,
        overrides={
            "lead_id": suffixed.format("lead_id"),
            "phone_number": "CASE WHEN s.phone_number = '' THEN '' "
            "ELSE s.phone_number || '-' || g.n END",
        },
    )
    copy_rows(
        Call,
        source=source,
        target=target,
        copies=copies,
        overrides={
            "call_id": suffixed.format("call_id"),
            "agent_id": "ta.id",
            "workflow_id": "tw.id",
            "lead_id": "tl.id",
        },
        joins=f"{agent_join} {workflow_join} {lead_join}",
    )
    copy_rows(
        ExecutedAction,
        source=source,
        target=target,
        copies=copies,
        overrides={"call_id": "tc.id", "agent_id": "ta.id"},
        joins=f"{call_join} {agent_join}",
    )
    for model in (LatencySample, ErrorLog):
        copy_rows(
            model,
            source=source,
            target=target,
            copies=copies,
            overrides={"call_id": "tc.id"},
            joins=call_join,
        )
    copy_rows(
        ActivityEvent,
        source=source,
        target=target,
        copies=copies,
        overrides={
            "call_id": "tc.id",
            "lead_id": "tl.id",
            "event_id": "'evt_' || left(md5(s.event_id || '-' || g.n), 24)",
            "dedupe_key": suffixed.format("dedupe_key"),
        },
        joins=f"{call_join} {lead_join}",
    )


@pytest.fixture
def tenants() -> tuple[Tenant, Tenant]:
    """The tenant under test (Europe/Berlin, ``SMALL_CALLS`` demo calls over the three days up to
    the current hour) and a large tenant in the same days, analysed."""
    until = timezone.now().replace(minute=0, second=0, microsecond=0)
    call_command(
        "seed_demo",
        tenant="plans-small",
        calls=SMALL_CALLS,
        days=3,
        seed=11,
        until=until.isoformat(),
        timezone="Europe/Berlin",
        verbosity=0,
    )
    small = Tenant.objects.get(slug="plans-small")
    large = Tenant.objects.create(name="Large", slug="plans-large", timezone="Europe/Berlin")
    # Every copied row points at rows copied before it: the deferred foreign key checks of half a
    # million rows would cost more than writing them (and run again before the test's rollback).
    with BulkWriter().foreign_key_checks_skipped():
        copy_tenant(small, large, COPIES)
    with connection.cursor() as cursor:
        for table in sorted(FACT_TABLES):
            cursor.execute(f"ANALYZE {table}")
    assert Call.objects.filter(tenant=large).count() == COPIES * SMALL_CALLS
    return small, large


# --- Plans ---------------------------------------------------------------------------------------


def captured_fact_queries(ask: Callable[[], None]) -> list[str]:
    """The SQL of every query ``ask`` sends that reads a fact table, with every fact read from
    raw rows."""
    with raw_only(), CaptureQueriesContext(connection) as captured:
        ask()
    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql.lstrip().upper().startswith("SELECT") and FACT_TABLES & set(
            re.findall(r'(?:FROM|JOIN) "(\w+)"', sql)
        ):
            found.append(sql)
    return found


def plan_nodes(sql: str) -> Iterator[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
    stack = [node["Plan"] for node in (raw if isinstance(raw, list) else json.loads(raw))]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", []))


def fact_indexes() -> dict[str, tuple[str, str]]:
    """Index name -> (table, first column) of every index on a fact table."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, t.relname, a.attname
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
            WHERE t.relname = ANY(%s)
            """,
            [sorted(FACT_TABLES)],
        )
        return {index: (table, first or "") for index, table, first in cursor.fetchall()}


def tenant_scan_problems(sql: str, indexes: dict[str, tuple[str, str]]) -> list[str]:
    """What in ``sql``'s plan reads a fact table other than by the tenant: a sequential scan,
    or an index read whose condition does not name ``tenant_id`` (unless it filters on it while
    reading a tenant-first index). An index read joined by a key of rows already read (a
    parameterised inner side, e.g. the call of an error log) is reached through those rows."""
    problems = []
    for node in plan_nodes(sql):
        kind = node["Node Type"]
        if kind == "Seq Scan" and node.get("Relation Name") in FACT_TABLES:
            problems.append(f"sequential scan of {node['Relation Name']}")
        if "Index Name" not in node or node["Index Name"] not in indexes:
            continue
        table, first_column = indexes[node["Index Name"]]
        condition = node.get("Index Cond", "")
        if "tenant_id" in condition:
            continue
        if first_column == "tenant_id" and "tenant_id" in node.get("Filter", ""):
            continue
        if node.get("Parent Relationship") == "Inner" and re.search(r"= \w+\.\w+\)", condition):
            continue
        problems.append(f"{kind} of {table} by {node['Index Name']} ({condition or 'no cond'})")
    return problems


# --- What the analytics layer asks -----------------------------------------------------------


def endpoint_requests(small: Tenant) -> list[tuple[str, dict[str, str]]]:
    """Every analytics endpoint, for a window ending at the small tenant's newest call: the
    last three hours (a partial day) and the last two days."""
    newest = Call.objects.filter(tenant=small).order_by("-start_time").first()
    assert newest is not None
    end = newest.start_time + timedelta(seconds=1)
    zone = small.zone
    requests: list[tuple[str, dict[str, str]]] = []
    api = "/api/v1/analytics/"
    for span in (timedelta(hours=3), timedelta(days=2)):
        start = end - span
        instants = {"started_after": start.isoformat(), "started_before": end.isoformat()}
        days = {
            "startDate": start.astimezone(zone).date().isoformat(),
            "endDate": end.astimezone(zone).date().isoformat(),
        }
        requests += [
            ("/v2/analytics/", {"from_date": start.isoformat(), "to_date": end.isoformat()}),
            (api + "summary", instants),
            (api + "call-volume", {**instants, "interval": "hour"}),
            (api + "call-volume", {**instants, "interval": "day"}),
            (api + "workflow-stats", instants),
            (api + "provider-latency", instants),
            (api + "errors", instants),
            (api + "active-calls", instants),
            (api + "overview", {**days, "granularity": "day", "compareWith": "previous_period"}),
            (api + "funnel", days),
            (api + "activity", {**days, "limit": "20"}),
        ]
    return requests


def test_raw_fact_reads_go_through_the_tenant(
    tenants: tuple[Tenant, Tenant], make_client: Callable[[Tenant], APIClient]
) -> None:
    small, _ = tenants
    client = make_client(small)
    requests = endpoint_requests(small)

    def ask() -> None:
        for path, params in requests:
            response = client.get(path, params)
            assert response.status_code == 200, (path, params, response.content[:300])
        newest = Call.objects.filter(tenant=small).order_by("-start_time")[0].start_time
        window = Window(newest - timedelta(hours=3), newest + timedelta(seconds=1))
        build_dashboard(Scope(tenant=small, window=window), now=window.end)

    queries = captured_fact_queries(ask)
    indexes = fact_indexes()

    read = {table for sql in queries for table in re.findall(r'FROM "(\w+)"', sql)}
    assert read >= FACT_TABLES  # every kind of fact was read from raw rows
    problems = {
        f"{problem}\n  in {sql[:300]}": None
        for sql in queries
        for problem in tenant_scan_problems(sql, indexes)
    }
    assert not problems, "\n".join(problems)
