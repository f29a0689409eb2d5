"""``manage.py rollups``: rebuilding a range, rolling the dirty days and hours, several
processes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from analytics import rollups
from analytics.facts.vocabulary import CALL_GROUPINGS, TOTALS
from analytics.models import CallDayRollup, CallHourRollup, RollupDay, RollupHour
from analytics.windows import HOUR, hour_range, utc_hour
from calls.models import Tenant
from calls.services import ingest_call_documents


def _ingest(tenant: Tenant, days: range) -> None:
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {
                "call_id": f"c{day}-{n}",
                "status": "completed",
                "start_time": f"2026-03-{day:02d}T{8 + n:02d}:00:00Z",
                "duration": 60,
                "latencies": [{"provider_type": "llm", "provider_name": "a", "latency_ms": 90}],
            }
            for day in days
            for n in range(2)
        ],
    )


def _rolled(tenant: Tenant) -> dict[date, int]:
    return dict(
        CallDayRollup.objects.filter(tenant=tenant, grouping="day").values_list("day", "calls")
    )


def rollups_command(*args: str) -> str:
    out = StringIO()
    call_command("rollups", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_a_range_rebuild_rolls_every_day_of_the_range():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    _ingest(tenant, range(2, 6))

    out = rollups_command("--tenant", "t", "--from", "2026-03-01", "--to", "2026-03-07")

    assert "Rolled 7 tenant-day(s)" in out
    assert _rolled(tenant) == {date(2026, 3, d): 2 for d in range(2, 6)}
    states = RollupDay.objects.filter(tenant=tenant)
    assert states.count() == 7
    assert not states.filter(rolled_at__isnull=True).exists()
    assert not states.filter(dirty_since__isnull=False).exists()


@pytest.mark.django_db
def test_dirty_rolls_only_the_dirty_days():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    _ingest(tenant, range(2, 4))
    rollups.roll_day(tenant_id=tenant.pk, day=date(2026, 3, 2))
    before = RollupDay.objects.get(tenant=tenant, day=date(2026, 3, 2)).rolled_at

    out = rollups_command("--dirty")

    assert "Rolled 1 tenant-day(s)" in out
    assert RollupDay.objects.get(tenant=tenant, day=date(2026, 3, 2)).rolled_at == before
    assert _rolled(tenant) == {date(2026, 3, 2): 2, date(2026, 3, 3): 2}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "nobody"), "No tenant"),
        (("--from", "2026-03-05", "--to", "2026-03-01"), "--to is before --from"),
        (("--jobs", "0"), "--jobs must be at least 1"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    Tenant.objects.create(name="T", slug="t", timezone="UTC")
    with pytest.raises(CommandError, match=message):
        rollups_command(*args)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_processes_build_the_same_rollups_as_one():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    _ingest(tenant, range(1, 29))
    rollups_command("--tenant", "t", "--from", "2026-01-01", "--to", "2026-04-30")
    expected = _rolled(tenant)
    CallDayRollup.objects.all().delete()
    RollupDay.objects.all().delete()

    rollups_command("--tenant", "t", "--from", "2026-01-01", "--to", "2026-04-30", "--jobs", "3")

    assert _rolled(tenant) == expected
    assert len(expected) == 28
    assert RollupDay.objects.filter(tenant=tenant, dirty_since__isnull=True).count() == 120


def _recent_hours(n: int) -> list[datetime]:
    """The last ``n`` completed UTC hours, oldest first."""
    current = utc_hour(timezone.now())
    return [current - timedelta(hours=k) for k in range(n, 0, -1)]


@pytest.mark.django_db
def test_a_rebuild_also_rolls_the_completed_hours_of_its_days(settings):
    settings.ROLLUP_HOUR_HORIZON_DAYS = 1
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    first = utc_hour(timezone.now()) - timedelta(days=3)
    new = _recent_hours(2)[0]
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {"call_id": "old", "status": "completed", "start_time": first.isoformat()},
            {"call_id": "new", "status": "completed", "start_time": new.isoformat()},
        ],
    )

    out = rollups_command("--tenant", "t")

    # Every completed hour from the first call's day on, and not this hour.
    midnight = first.replace(hour=0)
    completed = set(hour_range(midnight, utc_hour(timezone.now()) - HOUR))
    hours = RollupHour.objects.filter(tenant=tenant, rolled_at__isnull=False)
    assert set(hours.values_list("hour", flat=True)) == completed
    assert not hours.filter(dirty_since__isnull=False).exists()
    assert f"and {len(completed)} tenant-hour(s)" in out
    # Both calls' hours have call totals; only the hour within the horizon has the rest.
    totals = CallHourRollup.objects.filter(tenant=tenant, grouping=TOTALS)
    assert set(totals.values_list("hour", flat=True)) == {first, new}
    assert set(CallHourRollup.objects.values_list("hour", flat=True)) == {first, new}
    assert CallHourRollup.objects.filter(hour=first).count() == 1
    assert CallHourRollup.objects.filter(hour=new).count() == len(CALL_GROUPINGS)
    assert len(_rolled(tenant)) == 2


@pytest.mark.django_db
def test_hours_only_and_dirty_roll_the_dirty_hours():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    hour = _recent_hours(3)[0]
    ingest_call_documents(
        tenant=tenant,
        documents=[{"call_id": "a", "status": "completed", "start_time": hour.isoformat()}],
    )

    out = rollups_command("--dirty", "--hours-only")

    assert "Rolled 0 tenant-day(s) and 1 tenant-hour(s)" in out
    assert RollupHour.objects.get(tenant=tenant, hour=hour).dirty_since is None
    assert CallHourRollup.objects.get(tenant=tenant, grouping="day").calls == 1
    assert RollupDay.objects.get(tenant=tenant).dirty_since is not None

    assert "Rolled 1 tenant-day(s) and 0 tenant-hour(s)" in rollups_command("--dirty")
