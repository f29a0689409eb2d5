"""Migration 0009 merges the leads that share a phone before making the phone unique."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.models import RollupDay
from calls.models import Tenant

BEFORE = [("calls", "0008_action_agent_type")]
AFTER = [("calls", "0009_lead_phone_unique")]
PHONE = "+14155552671"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


# Going back to 0008 unapplies the later migrations, which only PostgreSQL can undo.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_duplicate_leads_are_merged_into_the_oldest():
    tenant = Tenant.objects.create(slug="m", name="M", timezone="UTC")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = migrate(BEFORE)
        Lead = old.get_model("calls", "Lead")
        Call = old.get_model("calls", "Call")
        Event = old.get_model("calls", "ActivityEvent")
        oldest = Lead.objects.create(
            tenant_id=tenant.pk, lead_id="lead_OLD", phone_number=PHONE, created_at=at(1), score=20
        )
        newer = Lead.objects.create(
            tenant_id=tenant.pk,
            lead_id="lead_NEW",
            phone_number=PHONE,
            name="Ada",
            created_at=at(2),
            status="demo_booked",
            qualified_at=at(2),
            demo_booked_at=at(2),
            score=70,
        )
        other = Lead.objects.create(
            tenant_id=tenant.pk, lead_id="lead_OTHER", phone_number="+14155552672", created_at=at(2)
        )
        no_phone = [
            Lead.objects.create(tenant_id=tenant.pk, lead_id=f"lead_{i}", created_at=at(3))
            for i in range(2)
        ]
        call = Call.objects.create(
            tenant_id=tenant.pk, call_id="c-1", status="completed", start_time=at(4), lead=newer
        )
        for lead, type_, when, key in [
            (oldest, "lead.created", at(1), f"lead.created:{oldest.pk}"),
            (newer, "lead.created", at(2), f"lead.created:{newer.pk}"),
            (newer, "lead.qualified", at(2), f"lead.qualified:{newer.pk}"),
            (newer, "lead.score_changed", at(2), f"lead.score_changed:{newer.pk}:20:70:c-1"),
            (newer, "conversation.started", at(4), "conversation.started:c-1"),
        ]:
            Event.objects.create(
                tenant_id=tenant.pk, type=type_, lead=lead, occurred_at=when, dedupe_key=key
            )
        RollupDay.objects.create(tenant_id=tenant.pk, day=date(2026, 3, 4), rolled_at=at(5))
        RollupDay.objects.create(tenant_id=tenant.pk, day=date(2026, 3, 9), rolled_at=at(10))

        new = migrate(AFTER)
        Lead = new.get_model("calls", "Lead")
        Event = new.get_model("calls", "ActivityEvent")
        assert sorted(Lead.objects.values_list("pk", flat=True)) == sorted(
            [oldest.pk, other.pk, *(lead.pk for lead in no_phone)]
        )
        kept = Lead.objects.get(pk=oldest.pk)
        assert (kept.lead_id, kept.name, kept.score, kept.status) == (
            "lead_OLD",
            "Ada",
            20,
            "demo_booked",
        )
        assert (kept.created_at, kept.qualified_at, kept.demo_booked_at) == (at(1), at(2), at(2))
        assert new.get_model("calls", "Call").objects.get(pk=call.pk).lead_id == oldest.pk
        events = sorted(Event.objects.values_list("type", "lead_id", "dedupe_key"))
        assert events == sorted(
            [
                ("conversation.started", oldest.pk, "conversation.started:c-1"),
                ("lead.created", oldest.pk, f"lead.created:{oldest.pk}"),
                ("lead.qualified", oldest.pk, f"lead.qualified:{oldest.pk}"),
                ("lead.score_changed", oldest.pk, f"lead.score_changed:{newer.pk}:20:70:c-1"),
            ]
        )
        # The day of the moved call is rolled again; an untouched day stays clean.
        days = dict(RollupDay.objects.values_list("day", "dirty_since"))
        assert days[date(2026, 3, 4)] is not None
        assert days[date(2026, 3, 9)] is None
    finally:
        migrate(latest)
