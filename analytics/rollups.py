"""Rollup writes: dirty-day marking, rolling one tenant-day, rolling every dirty day.

Every write here is idempotent: rolling a day replaces all of its rollup rows in one transaction,
so running it twice, concurrently, or again after a crash leaves one correct set of rows.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from analytics.definitions import PERCENTILES
from analytics.facts.db import insert_from, insert_select, rolling_session, temporary_table
from analytics.facts.raw import CALLS_WITH_SAMPLES, actions_in, call_aggregates, samples_in
from analytics.facts.rolled import LATENCY_COLUMNS
from analytics.facts.vocabulary import (
    CALL_CUBE_COLUMNS,
    CALL_GROUPINGS,
    CALL_MEASURES,
    LEAD_STAGE_COLUMNS,
    LatencyTotals,
)
from analytics.models import (
    ActionDayRollup,
    CallDayRollup,
    CallHourRollup,
    EventDayRollup,
    LatencyDayRollup,
    LatencyMeasures,
    LatencyMonthRollup,
    LatencyWeekRollup,
    LeadDayRollup,
    RollupDay,
)
from analytics.sketch import Sketch, histogram_rows, sum_dense
from analytics.windows import (
    Window,
    date_range,
    date_window,
    day_start,
    hours_are_utc_aligned,
    local_date,
    week_start,
)
from calls.models import ActivityEvent, Call, Lead, Tenant

logger = logging.getLogger(__name__)

ROLLUP_MODELS = (
    CallDayRollup,
    CallHourRollup,
    ActionDayRollup,
    LeadDayRollup,
    LatencyDayRollup,
    EventDayRollup,
)
# The call rollup dimensions whose empty value is NULL.
NULL_DIMENSIONS = ("agent_id", "workflow_id", "lead_source")


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
        rolling_session()
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
        _roll_calls(tenant, window, zone)
        _roll_hours(tenant, window, zone)
        _roll_actions(tenant, window, zone)
        _roll_leads(tenant, window, zone)
        _roll_latencies(tenant, window, zone)
        _roll_events(tenant, window, zone)
        months = sorted({day.replace(day=1) for day in days})
        weeks = sorted({week_start(day) for day in days})
        _lock_periods(tenant, months, weeks)
        for month in months:
            _rebuild_latency_month(tenant, month)
        for week in weeks:
            _rebuild_latency_week(tenant, week)
        now = timezone.now()
        for state in states:
            state.rolled_at = now
            state.timezone = tenant.timezone
            if state.dirty_since == marked[state.pk]:
                state.dirty_since = None
        RollupDay.objects.bulk_update(states, ["rolled_at", "timezone", "dirty_since"])
    return True


def _day_of(column: str, window: Window, zone: zoneinfo.ZoneInfo) -> Value | TruncDate:
    """The tenant-local day of ``column`` for rows in ``window``: a constant when the window is
    one day (rolling one dirty day, the common case), which spares a zone conversion per row."""
    first = local_date(window.start, zone)
    if day_start(first + timedelta(days=1), zone) >= window.end:
        return Value(first, output_field=DateField())
    return TruncDate(column, tzinfo=zone)


def _calls(tenant: Tenant, window: Window) -> QuerySet[Call]:
    return Call.objects.filter(
        tenant=tenant, start_time__gte=window.start, start_time__lt=window.end
    ).order_by()


def _lead_source() -> Case:
    """The source of a call's lead, looked up by key for the calls that have one (a join would
    hash every lead of the tenant to serve the few calls of a day that carry one)."""
    source = Lead.objects.filter(pk=OuterRef("lead_id")).order_by().values("source")
    return Case(When(lead_id__isnull=False, then=Subquery(source)), default=Value(None))


def _full_rows(
    model: type[Model], tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo
) -> QuerySet[Any]:
    """The ``full`` grouping rows the roll of ``window`` just wrote, from which the smaller
    groupings are summed."""
    return model._default_manager.filter(
        tenant=tenant,
        grouping="full",
        day__gte=local_date(window.start, zone),
        day__lt=local_date(window.end, zone),
    )


def _roll_calls(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    """Call totals per day for every stored grouping, each summed from one cube of the day's
    calls (their totals per combination of every grouping's columns): one pass over the calls,
    and one definition of every number, since a grouping row is exactly the sum of the cube rows
    it stands for. The cube itself is not stored (no read needs it; it is most of the size of
    the call rollups): it lives in a temporary table for the length of the roll."""
    cube = (
        _calls(tenant, window)
        .annotate(day=_day_of("start_time", window, zone), lead_source=_lead_source())
        .values("day", *CALL_CUBE_COLUMNS)
        .annotate(**call_aggregates())
    )
    quote = connection.ops.quote_name
    measures = {m: m for m in CALL_MEASURES}
    sums = ", ".join(f"SUM({quote(m)}) AS {quote(m)}" for m in CALL_MEASURES)
    with temporary_table("rollup_call_cube", cube) as table:
        for name, keyed in CALL_GROUPINGS.items():
            group = ", ".join(map(quote, ("day", *keyed)))
            # Dimensions outside the grouping hold their empty value.
            empty = {
                c: "" for c in CALL_CUBE_COLUMNS if c not in keyed and c not in NULL_DIMENSIONS
            }
            insert_select(
                CallDayRollup,
                f"SELECT {group}, {sums} FROM {table} GROUP BY {group}",
                [],
                {
                    "day": "day",
                    **{c: c for c in keyed},
                    **{c: None for c in NULL_DIMENSIONS if c not in keyed},
                    **measures,
                },
                tenant_id=tenant.pk,
                grouping=name,
                **empty,
            )


def _roll_hours(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    if not hours_are_utc_aligned(window, zone):
        return
    rows = (
        _calls(tenant, window)
        # An aligned hour lies within one local day: grouping by both is grouping by the hour.
        .annotate(hour=TruncHour("start_time", tzinfo=UTC), day=_day_of("start_time", window, zone))
        .values("hour", "day")
        .annotate(**call_aggregates())
    )
    insert_from(
        CallHourRollup,
        rows,
        {"day": "day", "hour": "hour", **{m: m for m in CALL_MEASURES}},
        tenant_id=tenant.pk,
    )


def _roll_actions(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    rows = (
        actions_in(tenant, [window])
        .annotate(day=_day_of("start_time", window, zone))
        .values("day", "agent_id", "type_of_call", "name")
        .annotate(n=Count("pk"))
    )
    insert_from(
        ActionDayRollup,
        rows,
        {
            "day": "day",
            "agent_id": "agent_id",
            "type_of_call": "type_of_call",
            "name": "name",
            "count": "n",
        },
        tenant_id=tenant.pk,
        grouping="full",
    )
    # Per name alone, summed from the full rows.
    full = _full_rows(ActionDayRollup, tenant, window, zone)
    insert_from(
        ActionDayRollup,
        full.order_by().values("day", "name").annotate(n=Sum("count")),
        {"day": "day", "name": "name", "count": "n"},
        tenant_id=tenant.pk,
        grouping="name",
        agent_id=None,
        type_of_call="",
    )


def _roll_leads(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    for stage, column in LEAD_STAGE_COLUMNS.items():
        rows = (
            Lead.objects.filter(
                tenant=tenant, **{f"{column}__gte": window.start, f"{column}__lt": window.end}
            )
            .order_by()
            .annotate(day=_day_of(column, window, zone))
            .values("day", "channel", "source")
            .annotate(
                n=Count("pk"),
                score_sum=Sum("score"),
                score_count=Count("score"),
                pipeline=Sum("estimated_value"),
            )
        )
        insert_from(
            LeadDayRollup,
            rows,
            {
                "day": "day",
                "channel": "channel",
                "source": "source",
                "count": "n",
                "score_sum": "score_sum",
                "score_count": "score_count",
                "pipeline": "pipeline",
            },
            tenant_id=tenant.pk,
            grouping="full",
            stage=stage,
        )
    # Per stage alone, summed from the full rows.
    full = _full_rows(LeadDayRollup, tenant, window, zone)
    summed = (
        full.order_by()
        .values("day", "stage")
        .annotate(
            n=Sum("count"),
            score_sum=Sum("score_sum"),
            score_count=Sum("score_count"),
            pipeline=Sum("pipeline"),
        )
    )
    insert_from(
        LeadDayRollup,
        summed,
        {
            "day": "day",
            "stage": "stage",
            "count": "n",
            "score_sum": "score_sum",
            "score_count": "score_count",
            "pipeline": "pipeline",
        },
        tenant_id=tenant.pk,
        grouping="stage",
        channel="",
        source="",
    )


def _roll_events(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    rows = (
        ActivityEvent.objects.filter(
            tenant=tenant, occurred_at__gte=window.start, occurred_at__lt=window.end
        )
        .order_by()
        .annotate(day=_day_of("occurred_at", window, zone))
        .values("day", "type")
        .annotate(n=Count("pk"))
    )
    insert_from(
        EventDayRollup, rows, {"day": "day", "type": "type", "count": "n"}, tenant_id=tenant.pk
    )


def _roll_latencies(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> None:
    """Per day and provider: sample and call counts, the latency sum and the histogram, from one
    grouped pass over the samples (histogram buckets carry their counts and sums)."""
    samples = samples_in(tenant, [window]).annotate(day=_day_of("start_time", window, zone))
    keys = ("day", "provider_type", "provider_name")
    rows = []
    for row in histogram_rows(
        samples, keys, latency_sum=Sum("latency_ms"), calls=CALLS_WITH_SAMPLES
    ):
        sketch = Sketch()
        sketch.add_buckets(row["buckets"], row["counts"])
        totals = LatencyTotals.of(row, samples="n")
        rows.append(
            LatencyDayRollup(
                tenant=tenant,
                day=row["day"],
                provider_type=row["provider_type"],
                provider_name=row["provider_name"],
                samples=totals.samples,
                latency_sum=totals.latency_sum,
                calls=totals.calls,
                histogram=sketch.to_dense(),
                quantiles=list(sketch.quantiles(PERCENTILES)),
            )
        )
    LatencyDayRollup.objects.bulk_create(rows)


def _lock_periods(tenant: Tenant, months: list[date], weeks: list[date]) -> None:
    """Serialises rebuilding a month's or a week's rows between rolls of different days of it.

    A month or week row merges every day row of the period: two rolls of different days
    rebuilding it at once would each miss the other's uncommitted days. The second waits here
    (PostgreSQL transaction-level advisory locks, taken in one global key order after the day
    locks, so no cycle) and then reads the first's committed days. SQLite runs one writer at a
    time anyway.
    """
    if connection.vendor != "postgresql":
        return
    # Months are keyed by their index since year 0 (positive), weeks by their Monday's ordinal
    # negated: the two never collide.
    keys = sorted(
        [month.year * 12 + month.month - 1 for month in months]
        + [-week.toordinal() for week in weeks]
    )
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [tenant.pk, key])


def _merged_latency_days(
    tenant: Tenant, first: date, last: date
) -> dict[tuple[str, str], tuple[LatencyTotals, dict[str, Any]]]:
    """The day rows of ``first`` .. ``last`` merged per provider: totals and summed histogram."""
    totals: dict[tuple[str, str], LatencyTotals] = {}
    histograms: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in LatencyDayRollup.objects.filter(tenant=tenant, day__gte=first, day__lte=last).values(
        *LATENCY_COLUMNS
    ):
        key = (row["provider_type"], row["provider_name"])
        totals.setdefault(key, LatencyTotals()).add(LatencyTotals.of(row))
        histograms.setdefault(key, []).append(row["histogram"])
    return {key: (totals[key], sum_dense(histograms[key])) for key in totals}


def _rebuild_latency_month(tenant: Tenant, month: date) -> None:
    last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    _rebuild_latency_period(tenant, LatencyMonthRollup, month=month, last=last)


def _rebuild_latency_week(tenant: Tenant, week: date) -> None:
    _rebuild_latency_period(tenant, LatencyWeekRollup, week=week, last=week + timedelta(days=6))


def _rebuild_latency_period(
    tenant: Tenant,
    model: type[LatencyMeasures],
    *,
    last: date,
    **period: date,
) -> None:
    """Replaces the rows of one period (``month=`` or ``week=`` its first day, through
    ``last``) with its day rows merged per provider."""
    (first,) = period.values()
    model._default_manager.filter(tenant=tenant, **period).delete()
    model._default_manager.bulk_create(
        model(
            tenant=tenant,
            provider_type=provider_type,
            provider_name=provider_name,
            samples=totals.samples,
            latency_sum=totals.latency_sum,
            calls=totals.calls,
            histogram=histogram,
            **period,
        )
        for (provider_type, provider_name), (totals, histogram) in _merged_latency_days(
            tenant, first, last
        ).items()
    )


def vacuum_rollup_tables() -> None:
    """``VACUUM ANALYZE`` of every rollup table (PostgreSQL), after a rebuild has replaced their
    rows: reads then skip no dead rows and plan with fresh statistics. Inside a transaction,
    where VACUUM cannot run, it is left to autovacuum."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for model in (*ROLLUP_MODELS, LatencyMonthRollup, LatencyWeekRollup, RollupDay):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


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
