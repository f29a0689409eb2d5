"""Rollup writes: dirty-day marking, rolling one tenant-day, rolling every dirty day.

Every write here is idempotent: rolling a day replaces all of its rollup rows in one transaction,
so running it twice, concurrently, or again after a crash leaves one correct set of rows.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from analytics.facts import call_aggregates, samples_in, totals_from_row
from analytics.models import (
    ActionDayRollup,
    CallDayRollup,
    CallHourRollup,
    LatencyDayRollup,
    LatencyMonthRollup,
    LeadDayRollup,
    RollupDay,
)
from analytics.rollup_reads import CALL_MEASURES, GROUPINGS
from analytics.sketch import Sketch, sketch_samples
from analytics.windows import Window, date_range, date_window, hour_starts, local_date
from calls.models import Call, ExecutedAction, Lead, Tenant, TranscriptTurn

logger = logging.getLogger(__name__)

ROLLUP_MODELS = (CallDayRollup, CallHourRollup, ActionDayRollup, LeadDayRollup, LatencyDayRollup)
# Call columns the full cube of CallDayRollup is keyed by.
CALL_DIMENSIONS = (
    "agent_id",
    "workflow_id",
    "type_of_call",
    "channel",
    "lead__source",
    "status",
    "end_call_reason",
)
LEAD_STAGE_COLUMNS = {
    "created": "created_at",
    "qualified": "qualified_at",
    "demo_booked": "demo_booked_at",
    "converted": "converted_at",
}


# --- Dirty marking ------------------------------------------------------------------------------


def mark_days_dirty(*, tenant: Tenant, instants: Iterable[datetime]) -> None:
    """Marks the tenant-local days of ``instants`` dirty, in the caller's transaction.

    Rows are upserted in day order so concurrent writers lock them in the same order.
    """
    zone = tenant.zone
    days = sorted({local_date(instant, zone) for instant in instants if instant is not None})
    if not days:
        return
    now = timezone.now()
    RollupDay.objects.bulk_create(
        [RollupDay(tenant=tenant, day=day, dirty_since=now) for day in days],
        update_conflicts=True,
        unique_fields=["tenant", "day"],
        update_fields=["dirty_since"],
    )


def on_rows_written(sender: Any, tenant: Tenant, instants: set[datetime], **kwargs: Any) -> None:
    mark_days_dirty(tenant=tenant, instants=instants)


# --- Rolling ------------------------------------------------------------------------------------


def roll_day(*, tenant_id: int, day: date) -> bool:
    """Replaces every rollup row of one tenant-local day (see ``roll_days``)."""
    return roll_days(tenant_id=tenant_id, first=day, last=day)


def roll_days(*, tenant_id: int, first: date, last: date) -> bool:
    """Replaces every rollup row of the tenant-local days ``first`` .. ``last`` with totals
    computed from raw rows, in one transaction and one set of grouped queries (a year of days
    costs about as many queries as one day).

    Returns ``False`` when the tenant no longer exists. The days' ``RollupDay`` rows are locked
    in day order for the whole roll: concurrent rolls of the same days run one after the other,
    and a writer marking a day dirty waits for the roll and leaves the day dirty after it.
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return False
    zone = tenant.zone
    days = list(date_range(first, last))
    with transaction.atomic():
        RollupDay.objects.bulk_create(
            [RollupDay(tenant=tenant, day=day) for day in days], ignore_conflicts=True
        )
        states = list(
            RollupDay.objects.select_for_update()
            .filter(tenant=tenant, day__gte=first, day__lte=last)
            .order_by("day")
        )
        marked = {state.pk: state.dirty_since for state in states}
        for model in ROLLUP_MODELS:
            model.objects.filter(tenant=tenant, day__gte=first, day__lte=last).delete()
        window = date_window(first, last, zone)
        CallDayRollup.objects.bulk_create(_call_rows(tenant, window, zone), batch_size=2000)
        CallHourRollup.objects.bulk_create(_hour_rows(tenant, window, zone), batch_size=2000)
        ActionDayRollup.objects.bulk_create(_action_rows(tenant, window, zone), batch_size=2000)
        LeadDayRollup.objects.bulk_create(_lead_rows(tenant, window, zone), batch_size=2000)
        LatencyDayRollup.objects.bulk_create(_latency_rows(tenant, window, zone), batch_size=2000)
        for month in sorted({day.replace(day=1) for day in days}):
            _rebuild_latency_month(tenant, month)
        now = timezone.now()
        for state in states:
            state.rolled_at = now
            state.timezone = tenant.timezone
            if state.dirty_since == marked[state.pk]:
                state.dirty_since = None
        RollupDay.objects.bulk_update(states, ["rolled_at", "timezone", "dirty_since"])
    return True


def _calls(tenant: Tenant, window: Window) -> Any:
    return Call.objects.filter(
        tenant=tenant, start_time__gte=window.start, start_time__lt=window.end
    ).order_by()


def _call_rows(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> list[CallDayRollup]:
    rows = (
        _calls(tenant, window)
        .annotate(day=TruncDate("start_time", tzinfo=zone))
        .values("day", *CALL_DIMENSIONS)
        .annotate(**call_aggregates())
    )
    turns = {
        (row["day"], *(row[f"call__{c}"] for c in CALL_DIMENSIONS)): row["n"]
        for row in TranscriptTurn.objects.filter(
            call__tenant=tenant,
            call__start_time__gte=window.start,
            call__start_time__lt=window.end,
        )
        .order_by()
        .annotate(day=TruncDate("call__start_time", tzinfo=zone))
        .values("day", *(f"call__{c}" for c in CALL_DIMENSIONS))
        .annotate(n=Count("pk"))
    }
    result = []
    for row in rows:
        key = (row["day"], *(row[c] for c in CALL_DIMENSIONS))
        result.append(
            CallDayRollup(
                tenant=tenant,
                day=row["day"],
                agent_id=row["agent_id"],
                workflow_id=row["workflow_id"],
                type_of_call=row["type_of_call"],
                channel=row["channel"],
                lead_source=row["lead__source"],
                status=row["status"],
                end_call_reason=row["end_call_reason"],
                turns=turns.get(key, 0),
                **_measures(row),
            )
        )
    return result + _groupings(result)


def _groupings(full: list[CallDayRollup]) -> list[CallDayRollup]:
    """The smaller groupings, summed from the full cube's rows (one definition of every number:
    a grouping row is exactly the sum of the cube rows it stands for)."""
    rows: list[CallDayRollup] = []
    for name, columns in GROUPINGS.items():
        if name == "full":
            continue
        summed: dict[tuple[Any, ...], CallDayRollup] = {}
        for cube in full:
            key = (cube.day, *(getattr(cube, c) for c in columns))
            row = summed.get(key)
            if row is None:
                row = summed[key] = CallDayRollup(
                    tenant_id=cube.tenant_id,
                    day=cube.day,
                    grouping=name,
                    **{"lead_source": None, **{c: getattr(cube, c) for c in columns}},
                )
                for measure in CALL_MEASURES:
                    setattr(row, measure, 0)
            for measure in CALL_MEASURES:
                setattr(row, measure, getattr(row, measure) + getattr(cube, measure))
        rows.extend(summed.values())
    return rows


def _measures(row: dict[str, Any]) -> dict[str, Any]:
    """A raw aggregate row as rollup measure columns, through the same conversion raw facts use
    (turns are counted apart)."""
    measures = asdict(totals_from_row(row))
    del measures["turns"]
    return measures


def hours_are_utc_aligned(window: Window, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether every local hour of ``window`` starts on a UTC hour (not so in India, Nepal…)."""
    return all(start.minute == 0 for start in hour_starts(window, zone))


def _hour_rows(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> list[CallHourRollup]:
    if not hours_are_utc_aligned(window, zone):
        return []
    rows = (
        _calls(tenant, window)
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values("hour")
        .annotate(**call_aggregates())
    )
    return [
        CallHourRollup(
            tenant=tenant, day=local_date(row["hour"], zone), hour=row["hour"], **_measures(row)
        )
        for row in rows
    ]


def _action_rows(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> list[ActionDayRollup]:
    rows = (
        ExecutedAction.objects.filter(
            call__tenant=tenant,
            call__start_time__gte=window.start,
            call__start_time__lt=window.end,
        )
        .order_by()
        .annotate(day=TruncDate("call__start_time", tzinfo=zone))
        .values("day", "call__agent_id", "call__type_of_call", "name")
        .annotate(n=Count("pk"))
    )
    return [
        ActionDayRollup(
            tenant=tenant,
            day=row["day"],
            agent_id=row["call__agent_id"],
            type_of_call=row["call__type_of_call"],
            name=row["name"],
            count=row["n"],
        )
        for row in rows
    ]


def _lead_rows(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> list[LeadDayRollup]:
    result = []
    for stage, column in LEAD_STAGE_COLUMNS.items():
        rows = (
            Lead.objects.filter(
                tenant=tenant, **{f"{column}__gte": window.start, f"{column}__lt": window.end}
            )
            .order_by()
            .annotate(day=TruncDate(column, tzinfo=zone))
            .values("day", "channel", "source")
            .annotate(
                n=Count("pk"),
                score_sum=Sum("score"),
                score_count=Count("score"),
                pipeline=Sum("estimated_value"),
            )
        )
        for row in rows:
            result.append(
                LeadDayRollup(
                    tenant=tenant,
                    day=row["day"],
                    stage=stage,
                    channel=row["channel"],
                    source=row["source"],
                    count=row["n"],
                    score_sum=row["score_sum"] or 0,
                    score_count=row["score_count"],
                    pipeline=row["pipeline"] or 0,
                )
            )
    return result


def _latency_rows(
    tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo
) -> list[LatencyDayRollup]:
    samples = samples_in(tenant, window).annotate(day=TruncDate("start_time", tzinfo=zone))
    totals = {
        (row["day"], row["provider_type"], row["provider_name"]): row
        for row in samples.values("day", "provider_type", "provider_name").annotate(
            samples=Count("pk"), latency_sum=Sum("latency_ms"), calls=Count("call", distinct=True)
        )
    }
    sketches = sketch_samples(samples, by_day=True)
    return [
        LatencyDayRollup(
            tenant=tenant,
            day=key[0],
            provider_type=key[1],
            provider_name=key[2],
            samples=row["samples"],
            latency_sum=float(row["latency_sum"] or 0.0),
            calls=row["calls"],
            histogram=sketches.get(key, Sketch()).to_dense(),
        )
        for key, row in totals.items()
    ]


def _rebuild_latency_month(tenant: Tenant, month: date) -> None:
    next_month = (month + timedelta(days=32)).replace(day=1)
    LatencyMonthRollup.objects.filter(tenant=tenant, month=month).delete()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for provider_type, provider_name, histogram in LatencyDayRollup.objects.filter(
        tenant=tenant, day__gte=month, day__lt=next_month
    ).values_list("provider_type", "provider_name", "histogram"):
        grouped.setdefault((provider_type, provider_name), []).append(histogram)
    rows = []
    for (provider_type, provider_name), histograms in grouped.items():
        sketch = Sketch()
        sketch.merge_dense(histograms)
        rows.append(
            LatencyMonthRollup(
                tenant=tenant,
                month=month,
                provider_type=provider_type,
                provider_name=provider_name,
                histogram=sketch.to_dense(),
            )
        )
    LatencyMonthRollup.objects.bulk_create(rows)


def runs(pairs: list[tuple[int, date]], *, max_days: int = 31) -> list[tuple[int, date, date]]:
    """``(tenant id, day)`` pairs as ``(tenant id, first, last)`` runs of consecutive days (at
    most ``max_days`` long), so each run is rolled with one set of grouped queries."""
    result: list[tuple[int, date, date]] = []
    for tenant_id, day in sorted(set(pairs)):
        if result:
            last_tenant, first, last = result[-1]
            if (
                last_tenant == tenant_id
                and day == last + timedelta(days=1)
                and (day - first).days < max_days
            ):
                result[-1] = (tenant_id, first, day)
                continue
        result.append((tenant_id, day, day))
    return result


def dirty_days(*, limit: int = 500) -> list[tuple[int, date]]:
    """The oldest-marked dirty ``(tenant id, day)`` pairs."""
    return list(
        RollupDay.objects.filter(dirty_since__isnull=False)
        .order_by("dirty_since")
        .values_list("tenant_id", "day")[:limit]
    )


def recent_days(*, days: int, now: datetime | None = None) -> list[tuple[int, date]]:
    """Every tenant's last ``days`` local days up to today (for the nightly reconcile)."""
    now = now or timezone.now()
    result: list[tuple[int, date]] = []
    for tenant in Tenant.objects.all():
        today = local_date(now, tenant.zone)
        result.extend((tenant.pk, today - timedelta(days=n)) for n in range(days))
    return result
