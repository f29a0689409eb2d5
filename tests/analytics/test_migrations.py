"""Data migrations of the rollup tables keep rolled days answerable from rollups."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils.timezone import now as timezone_now

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


@pytest.mark.django_db(transaction=True)
def test_hour_grain_reshapes_call_hours_and_counts_the_errors_of_rolled_days():
    from datetime import UTC, datetime

    from calls.models import ErrorLog

    tenant = Tenant.objects.create(slug="h", name="H", timezone="Europe/Berlin")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("analytics")
    before = [("analytics", "0006_drop_unused_call_groupings")]
    after = [("analytics", "0007_hour_grain")]
    try:
        old = migrate(before)
        old.get_model("analytics", "CallHourRollup").objects.create(
            tenant_id=tenant.pk,
            day=date(2026, 3, 2),
            hour=datetime(2026, 3, 2, 9, tzinfo=UTC),
            calls=4,
        )
        states = old.get_model("analytics", "RollupDay")
        states.objects.create(tenant_id=tenant.pk, day=date(2026, 3, 2), rolled_at=timezone_now())
        states.objects.create(tenant_id=tenant.pk, day=date(2026, 3, 3))  # never rolled
        for at, service, level in [
            # 23:30 UTC on March 1st is 00:30 on March 2nd in Berlin.
            (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "stt", "error"),
            (datetime(2026, 3, 2, 12, tzinfo=UTC), "stt", "error"),
            (datetime(2026, 3, 2, 13, tzinfo=UTC), "llm", "warning"),
            (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "stt", "error"),  # March 3rd in Berlin
        ]:
            ErrorLog.objects.create(
                tenant=tenant, timestamp=at, service=service, level=level, message="x"
            )

        new = migrate(after)
        hours = new.get_model("analytics", "CallHourRollup")
        assert not hours.objects.exists()
        hours.objects.create(
            tenant_id=tenant.pk,
            hour=datetime(2026, 3, 2, 9, tzinfo=UTC),
            grouping="status",
            status="completed",
            calls=1,
        )
        errors = new.get_model("analytics", "ErrorDayRollup")
        assert sorted(errors.objects.values_list("day", "service", "level", "count")) == [
            (date(2026, 3, 2), "llm", "warning", 1),
            (date(2026, 3, 2), "stt", "error", 2),
        ]
        assert not new.get_model("analytics", "RollupHour").objects.exists()

        # And back: the hour rows of the new shape go, the old shape takes rows again.
        old = migrate(before).get_model("analytics", "CallHourRollup")
        assert not old.objects.exists()
        old.objects.create(
            tenant_id=tenant.pk, day=date(2026, 3, 2), hour=datetime(2026, 3, 2, 9, tzinfo=UTC)
        )
    finally:
        migrate(latest)
