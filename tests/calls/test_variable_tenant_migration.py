"""Migration 0013 copies each call's tenant onto its collected variables, batch by batch, and
swaps the global filter index for the tenant-first one."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from calls.models import Tenant

BEFORE = [("calls", "0012_webhook_replay")]
AFTER = [("calls", "0013_variable_tenant")]
MIGRATION = importlib.import_module("calls.migrations.0013_variable_tenant")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def variable_indexes() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "calls_collectedvariable")
    return {name for name, info in constraints.items() if info["index"]}


@pytest.mark.django_db(transaction=True)
def test_the_backfill_copies_each_calls_tenant_in_batches(monkeypatch):
    tenants = [Tenant.objects.create(slug=slug, name=slug, timezone="UTC") for slug in ("m", "n")]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    # Several call-id ranges, one of them empty, so that every batch boundary is crossed.
    monkeypatch.setattr(MIGRATION, "BATCH_CALLS", 2)
    try:
        old = migrate(BEFORE)
        Call = old.get_model("calls", "Call")
        Variable = old.get_model("calls", "CollectedVariable")
        expected = []
        for n in range(7):
            tenant = tenants[n % 2]
            call = Call.objects.create(
                tenant_id=tenant.pk,
                call_id=f"c-{n}",
                status="completed",
                start_time=datetime(2026, 3, 1, 10, n, tzinfo=UTC),
            )
            if n == 3:
                continue  # a call without variables
            for name in ("plan", "region"):
                Variable.objects.create(call=call, agent_key="a", name=name, value="gold")
                expected.append((f"c-{n}", name, tenant.pk))
        assert "variable_name_value_idx" in variable_indexes()

        new = migrate(AFTER)

        rows = new.get_model("calls", "CollectedVariable").objects.values_list(
            "call__call_id", "name", "tenant_id"
        )
        assert sorted(rows) == sorted(expected)
        indexes = variable_indexes()
        assert "variable_tenant_name_value_idx" in indexes
        assert "variable_name_value_idx" not in indexes

        # And back: the column goes, the global index returns.
        migrate(BEFORE)
        indexes = variable_indexes()
        assert "variable_name_value_idx" in indexes
        assert "variable_tenant_name_value_idx" not in indexes
    finally:
        migrate(latest)
