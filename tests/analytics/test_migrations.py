"""Data migrations of the rollup tables keep rolled days answerable from rollups."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from calls.models import Agent, Tenant

BEFORE = [("analytics", "0004_latency_week_rollup_and_day_quantiles")]
AFTER = [("analytics", "0005_action_rollup_grouping")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_action_rollup_grouping_sums_the_rolled_days_per_name():
    tenant = Tenant.objects.create(slug="m", name="M", timezone="UTC")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("analytics")
    try:
        agents = [Agent.objects.create(tenant=tenant, model_id=f"a{i}") for i in range(2)]
        old = migrate(BEFORE).get_model("analytics", "ActionDayRollup")
        for agent, type_of_call, name, count in [
            (agents[0], "inbound", "book", 3),
            (agents[1], "outbound", "book", 4),
            (agents[1], "outbound", "transfer", 1),
        ]:
            old.objects.create(
                tenant_id=tenant.pk,
                day=date(2026, 3, 2),
                agent_id=agent.pk,
                type_of_call=type_of_call,
                name=name,
                count=count,
            )
        old.objects.create(tenant_id=tenant.pk, day=date(2026, 3, 3), name="book", count=2)

        new = migrate(AFTER).get_model("analytics", "ActionDayRollup")
        assert new.objects.filter(grouping="full").count() == 4
        by_name = sorted(
            new.objects.filter(grouping="name").values_list(
                "day", "name", "count", "agent_id", "type_of_call"
            )
        )
        assert by_name == [
            (date(2026, 3, 2), "book", 7, None, ""),
            (date(2026, 3, 2), "transfer", 1, None, ""),
            (date(2026, 3, 3), "book", 2, None, ""),
        ]

        # And back: the name rows go, the full rows stay.
        assert migrate(BEFORE).get_model("analytics", "ActionDayRollup").objects.count() == 4
    finally:
        migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_unused_call_groupings_are_deleted_and_the_others_kept():
    tenant = Tenant.objects.create(slug="g", name="G", timezone="UTC")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("analytics")
    before = [("analytics", "0005_action_rollup_grouping")]
    after = [("analytics", "0006_drop_unused_call_groupings")]
    try:
        old = migrate(before).get_model("analytics", "CallDayRollup")
        for grouping in ("full", "dashboard", "day", "status", "agent"):
            old.objects.create(
                tenant_id=tenant.pk, day=date(2026, 3, 2), grouping=grouping, status="", calls=2
            )

        new = migrate(after).get_model("analytics", "CallDayRollup")
        assert sorted(new.objects.values_list("grouping", flat=True)) == ["agent", "day", "status"]

        # And back: nothing is rebuilt, nothing else is lost.
        assert migrate(before).get_model("analytics", "CallDayRollup").objects.count() == 3
    finally:
        migrate(latest)
