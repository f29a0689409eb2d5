"""Rollup writes: dirty marking, rolling a tenant's days or hours, the dirty work the beat hands
out, pruning hours past the horizon.

Hours within the hour horizon (``hour_horizon``) get every hour table; older hours keep their
call totals alone (the ``TOTALS`` grouping): they are marked dirty and rolled like recent hours,
and pruning keeps them, so hourly call volume over a long window reads rolled hours.

Every write here is idempotent: rolling a day or an hour replaces all of its rollup rows in one
transaction, so running it twice, concurrently, or again after a crash leaves one correct set of
rows. Days and hours are rolled by the same functions, over a ``Grain`` (what rows are keyed
by, and the tables they go to); leads are rolled per day only.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    Expression,
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
    TOTALS,
    LatencyTotals,
    hour_horizon,
)
from analytics.models import (
    ActionCounts,
    ActionDayRollup,
    ActionHourRollup,
    CallDayRollup,
    CallGroupedMeasures,
    CallHourRollup,
    ErrorCounts,
    ErrorDayRollup,
    ErrorHourRollup,
    EventCounts,
    EventDayRollup,
    EventHourRollup,
    LatencyDayRollup,
    LatencyHourRollup,
    LatencyMeasures,
    LatencyMonthRollup,
    LatencyWeekRollup,
    LeadDayRollup,
    RollupDay,
    RollupHour,
    RollupState,
)
from analytics.sketch import Sketch, histogram_rows, sum_dense
from analytics.windows import (
    HOUR,
    Window,
    date_range,
    date_window,
    day_start,
    hour_range,
    local_date,
    utc_hour,
    week_start,
)
from calls.models import ActivityEvent, Call, ErrorLog, Lead, Tenant, answers_changed

logger = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
# The call rollup dimensions whose empty value is NULL.
NULL_DIMENSIONS = ("agent_id", "workflow_id", "lead_source")


@dataclass(frozen=True)
class Grain:
    """What a roll keys its rows by (``key``, also the key column of every table of the grain:
    the tenant-local ``day`` or the UTC ``hour``) and the tables it writes."""

    key: str
    calls: type[CallGroupedMeasures]
    actions: type[ActionCounts]
    events: type[EventCounts]
    errors: type[ErrorCounts]
    latencies: type[LatencyMeasures]
    # Lead rollups exist per day only.
    leads: type[LeadDayRollup] | None

    @property
    def models(self) -> tuple[type[Model], ...]:
        tables = (self.calls, self.actions, self.events, self.errors, self.latencies, self.leads)
        return tuple(model for model in tables if model is not None)


DAYS = Grain(
    "day",
    calls=CallDayRollup,
    actions=ActionDayRollup,
    events=EventDayRollup,
    errors=ErrorDayRollup,
    latencies=LatencyDayRollup,
    leads=LeadDayRollup,
)
HOURS = Grain(
    "hour",
    calls=CallHourRollup,
    actions=ActionHourRollup,
    events=EventHourRollup,
    errors=ErrorHourRollup,
    latencies=LatencyHourRollup,
    leads=None,
)
ROLLUP_MODELS = (*DAYS.models, *HOURS.models)


@dataclass(frozen=True)
class _Roll:
    """One roll: a tenant's whole days (in ``zone``) or whole UTC hours, spanning ``window``."""

    tenant: Tenant
    window: Window
    zone: zoneinfo.ZoneInfo
    grain: Grain

    def key_of(self, column: str) -> Expression:
        """The grain's key of the instant ``column`` for rows in the window: a constant when the
        window is one period (rolling one dirty day or hour, the common case), which spares a
        conversion per row."""
        if self.grain is HOURS:
            if self.window.end - self.window.start <= HOUR:
                return Value(self.window.start, output_field=DateTimeField())
            return TruncHour(column, tzinfo=UTC)
        first = local_date(self.window.start, self.zone)
        if day_start(first + ONE_DAY, self.zone) >= self.window.end:
            return Value(first, output_field=DateField())
        return TruncDate(column, tzinfo=self.zone)

    def periods(self) -> dict[str, Any]:
        """The lookups of the rows of the rolled periods, in any of the grain's tables."""
        if self.grain is HOURS:
            return {"hour__gte": self.window.start, "hour__lt": self.window.end}
        return {
            "day__gte": local_date(self.window.start, self.zone),
            "day__lt": local_date(self.window.end, self.zone),
        }


# --- Dirty marking ------------------------------------------------------------------------------


def mark_dirty(*, tenant: Tenant, instants: Iterable[datetime]) -> None:
    """Marks the tenant-local days and the UTC hours of ``instants`` dirty, in the caller's
    transaction.

    Days, then hours, are upserted in order so concurrent writers lock them in the same order; a
    roll locks only days or only hours.
    """
    stamps = [instant for instant in instants if instant is not None]
    if not stamps:
        return
    now = timezone.now()
    zone = tenant.zone
    _mark_periods(RollupDay, tenant, "day", sorted({local_date(i, zone) for i in stamps}), now)
    _mark_periods(RollupHour, tenant, "hour", sorted({utc_hour(i) for i in stamps}), now)


def _mark_periods(
    model: type[RollupState], tenant: Tenant, key: str, periods: list[Any], now: datetime
) -> None:
    """Upserts the tenant's ``periods`` (sorted) of ``model`` as dirty since ``now``.

    On PostgreSQL in one statement whose periods travel as one array: a backfill batch touches
    hundreds of hours, and a model instance and four parameters per hour cost several times
    the statement (45 against 9 ms for a batch of 500 calls over a month)."""
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(
            [model(tenant=tenant, **{key: period}, dirty_since=now) for period in periods],
            update_conflicts=True,
            unique_fields=["tenant", key],
            update_fields=["dirty_since"],
        )
        return
    quote = connection.ops.quote_name
    columns, values = ["tenant_id", key, "dirty_since"], ["%s", "period", "%s"]
    if model is RollupDay:
        # Set when the day is rolled; every other column is nullable.
        columns.append("timezone")
        values.append("''")
    cast = "date" if key == "day" else "timestamptz"
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join(values)} FROM unnest(%s::{cast}[]) AS period ORDER BY period "
        f"ON CONFLICT (tenant_id, {quote(key)}) DO UPDATE SET dirty_since = EXCLUDED.dirty_since"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [tenant.pk, now, periods])


def on_rows_written(sender: Any, tenant: Tenant, instants: set[datetime], **kwargs: Any) -> None:
    mark_dirty(tenant=tenant, instants=instants)


# --- Rolling ------------------------------------------------------------------------------------

State = TypeVar("State", bound=RollupState)


def _claim(
    model: type[State], tenant: Tenant, key: str, keys: Sequence[Any]
) -> tuple[list[State], dict[int, datetime | None]]:
    """Creates the missing states of the consecutive periods ``keys`` and locks them all in key
    order for the rest of the roll's transaction: concurrent rolls of the same periods run one
    after the other, and a writer marking one of them dirty waits for the roll and leaves it
    dirty after it. Returns the states and each one's dirty mark as the roll found it."""
    model._default_manager.bulk_create(
        [model(tenant=tenant, **{key: k}) for k in keys], ignore_conflicts=True
    )
    states = list(
        model._default_manager.select_for_update()
        .filter(tenant=tenant, **{f"{key}__gte": keys[0], f"{key}__lte": keys[-1]})
        .order_by(key)
    )
    return states, {state.pk: state.dirty_since for state in states}


def _mark_rolled(
    model: type[State], states: list[State], marked: dict[int, datetime | None], **fields: Any
) -> None:
    """Marks ``states`` rolled, clearing each dirty mark only if it is still the one the roll
    found (a writer's newer mark waits on ``_claim``'s lock and lands after the commit)."""
    now = timezone.now()
    for state in states:
        state.rolled_at = now
        for name, value in fields.items():
            setattr(state, name, value)
        if state.dirty_since == marked[state.pk]:
            state.dirty_since = None
    model._default_manager.bulk_update(states, ["rolled_at", "dirty_since", *fields])


def roll_day(*, tenant_id: int, day: date) -> bool:
    """Replaces every rollup row of one tenant-local day (see ``roll_days``)."""
    return roll_days(tenant_id=tenant_id, first=day, last=day)


def roll_days(*, tenant_id: int, first: date, last: date) -> bool:
    """Replaces every day rollup row of the tenant-local days ``first`` .. ``last`` with totals
    computed from raw rows, in one transaction and one set of grouped queries (a year of days
    costs about as many queries as one day).

    Returns ``False`` when the tenant no longer exists. The days' ``RollupDay`` rows are locked
    in day order for the whole roll (see ``_claim``).
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return False
    zone = tenant.zone
    days = list(date_range(first, last))
    with transaction.atomic():
        rolling_session()
        states, marked = _claim(RollupDay, tenant, "day", days)
        roll = _Roll(tenant, date_window(first, last, zone), zone, DAYS)
        for model in DAYS.models:
            model._default_manager.filter(tenant=tenant, **roll.periods()).delete()
        _roll_facts(roll)
        _roll_leads(roll)
        months = sorted({day.replace(day=1) for day in days})
        weeks = sorted({week_start(day) for day in days})
        _lock_periods(tenant, months, weeks)
        for month in months:
            _rebuild_latency_month(tenant, month)
        for week in weeks:
            _rebuild_latency_week(tenant, week)
        _mark_rolled(RollupDay, states, marked, timezone=tenant.timezone)
        # Answers now read these days from rollups (a percentile within its accuracy, a float
        # sum in another order): what versions answers must move.
        answers_changed.send(sender=RollupDay, tenant_id=tenant.pk)
    return True


def roll_hour(*, tenant_id: int, hour: datetime) -> bool:
    """Replaces every rollup row of one UTC hour (see ``roll_hours``)."""
    return roll_hours(tenant_id=tenant_id, first=hour, last=hour)


def roll_hours(*, tenant_id: int, first: datetime, last: datetime) -> bool:
    """Replaces every hour rollup row of the UTC hours starting ``first`` .. ``last`` (aware, on
    the hour) with totals computed from raw rows and marks them rolled (``RollupHour``, locked
    as ``roll_days`` locks days). Hours before the hour horizon get their call totals only
    (every other row of theirs is pruned, and reads take days there), in a transaction of their
    own.

    Returns ``False`` when the tenant no longer exists.
    """
    for bound in (first, last):
        if bound.utcoffset() is None or utc_hour(bound) != bound:
            raise ValueError(f"{bound!r} is not the aware start of an hour")
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return False
    horizon = hour_horizon()
    if first < horizon:
        _roll_hour_span(tenant, first, min(last, horizon - HOUR), totals_only=True)
    if last >= horizon:
        _roll_hour_span(tenant, max(first, horizon), last, totals_only=False)
    return True


def _roll_hour_span(tenant: Tenant, first: datetime, last: datetime, *, totals_only: bool) -> None:
    with transaction.atomic():
        rolling_session()
        states, marked = _claim(RollupHour, tenant, "hour", list(hour_range(first, last)))
        roll = _Roll(tenant, Window(first, last + HOUR), tenant.zone, HOURS)
        if totals_only:
            # Every grouping's rows go: the others are no longer read for these hours.
            CallHourRollup.objects.filter(tenant=tenant, **roll.periods()).delete()
            _roll_calls(roll, groupings=(TOTALS,))
        else:
            for model in HOURS.models:
                model._default_manager.filter(tenant=tenant, **roll.periods()).delete()
            _roll_facts(roll)
        _mark_rolled(RollupHour, states, marked)
        answers_changed.send(sender=RollupHour, tenant_id=tenant.pk)  # as for days


def _roll_facts(roll: _Roll) -> None:
    """Writes the rows of every table of the roll's grain but leads."""
    _roll_calls(roll)
    _roll_actions(roll)
    _roll_latencies(roll)
    _roll_events(roll)
    _roll_errors(roll)


def _calls(roll: _Roll) -> QuerySet[Call]:
    return Call.objects.filter(
        tenant=roll.tenant, start_time__gte=roll.window.start, start_time__lt=roll.window.end
    ).order_by()


def _lead_source() -> Case:
    """The source of a call's lead, looked up by key for the calls that have one (a join would
    hash every lead of the tenant to serve the few calls of a day that carry one)."""
    source = Lead.objects.filter(pk=OuterRef("lead_id")).order_by().values("source")
    return Case(When(lead_id__isnull=False, then=Subquery(source)), default=Value(None))


def _full_rows(model: type[Model], roll: _Roll) -> QuerySet[Any]:
    """The ``full`` grouping rows the roll just wrote, from which the smaller groupings are
    summed."""
    return model._default_manager.filter(tenant=roll.tenant, grouping="full", **roll.periods())


def _roll_calls(roll: _Roll, groupings: Sequence[str] = tuple(CALL_GROUPINGS)) -> None:
    """Call totals per period for every stored grouping, each summed from one cube of the
    period's calls (their totals per combination of every grouping's columns): one pass over the
    calls, and one definition of every number, since a grouping row is exactly the sum of the
    cube rows it stands for. The cube itself is not stored (no read needs it; it is most of the
    size of the call rollups): it lives in a temporary table for the length of the roll.
    With ``groupings`` only those are written, and the cube holds only their columns."""
    key = roll.grain.key
    keyed_by = {name: CALL_GROUPINGS[name] for name in groupings}
    cube_columns = [c for c in CALL_CUBE_COLUMNS if any(c in keyed for keyed in keyed_by.values())]
    calls = _calls(roll).annotate(**{key: roll.key_of("start_time")})
    if "lead_source" in cube_columns:
        calls = calls.annotate(lead_source=_lead_source())
    cube = calls.values(key, *cube_columns).annotate(**call_aggregates())
    quote = connection.ops.quote_name
    measures = {m: m for m in CALL_MEASURES}
    sums = ", ".join(f"SUM({quote(m)}) AS {quote(m)}" for m in CALL_MEASURES)
    with temporary_table("rollup_call_cube", cube) as table:
        for name, keyed in keyed_by.items():
            group = ", ".join(map(quote, (key, *keyed)))
            # Dimensions outside the grouping hold their empty value.
            empty = {
                c: "" for c in CALL_CUBE_COLUMNS if c not in keyed and c not in NULL_DIMENSIONS
            }
            insert_select(
                roll.grain.calls,
                f"SELECT {group}, {sums} FROM {table} GROUP BY {group}",
                [],
                {
                    key: key,
                    **{c: c for c in keyed},
                    **{c: None for c in NULL_DIMENSIONS if c not in keyed},
                    **measures,
                },
                tenant_id=roll.tenant.pk,
                grouping=name,
                **empty,
            )


def _roll_actions(roll: _Roll) -> None:
    key, model = roll.grain.key, roll.grain.actions
    rows = (
        actions_in(roll.tenant, [roll.window])
        .annotate(**{key: roll.key_of("start_time")})
        .values(key, "agent_id", "type_of_call", "name")
        .annotate(n=Count("pk"))
    )
    insert_from(
        model,
        rows,
        {
            key: key,
            "agent_id": "agent_id",
            "type_of_call": "type_of_call",
            "name": "name",
            "count": "n",
        },
        tenant_id=roll.tenant.pk,
        grouping="full",
    )
    # Per name alone, summed from the full rows.
    insert_from(
        model,
        _full_rows(model, roll).order_by().values(key, "name").annotate(n=Sum("count")),
        {key: key, "name": "name", "count": "n"},
        tenant_id=roll.tenant.pk,
        grouping="name",
        agent_id=None,
        type_of_call="",
    )


def _roll_leads(roll: _Roll) -> None:
    for stage, column in LEAD_STAGE_COLUMNS.items():
        rows = (
            Lead.objects.filter(
                tenant=roll.tenant,
                **{f"{column}__gte": roll.window.start, f"{column}__lt": roll.window.end},
            )
            .order_by()
            .annotate(day=roll.key_of(column))
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
            tenant_id=roll.tenant.pk,
            grouping="full",
            stage=stage,
        )
    # Per stage alone, summed from the full rows.
    summed = (
        _full_rows(LeadDayRollup, roll)
        .order_by()
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
        tenant_id=roll.tenant.pk,
        grouping="stage",
        channel="",
        source="",
    )


def _roll_events(roll: _Roll) -> None:
    key = roll.grain.key
    rows = (
        ActivityEvent.objects.filter(
            tenant=roll.tenant,
            occurred_at__gte=roll.window.start,
            occurred_at__lt=roll.window.end,
        )
        .order_by()
        .annotate(**{key: roll.key_of("occurred_at")})
        .values(key, "type")
        .annotate(n=Count("pk"))
    )
    insert_from(
        roll.grain.events,
        rows,
        {key: key, "type": "type", "count": "n"},
        tenant_id=roll.tenant.pk,
    )


def _roll_errors(roll: _Roll) -> None:
    key = roll.grain.key
    rows = (
        ErrorLog.objects.filter(
            tenant=roll.tenant, timestamp__gte=roll.window.start, timestamp__lt=roll.window.end
        )
        .order_by()
        .annotate(**{key: roll.key_of("timestamp")})
        .values(key, "service", "level")
        .annotate(n=Count("pk"))
    )
    insert_from(
        roll.grain.errors,
        rows,
        {key: key, "service": "service", "level": "level", "count": "n"},
        tenant_id=roll.tenant.pk,
    )


def _roll_latencies(roll: _Roll) -> None:
    """Per period and provider: sample and call counts, the latency sum and the histogram, from
    one grouped pass over the samples (histogram buckets carry their counts and sums). Day rows
    also store their percentiles (``LatencyDayRollup.quantiles``)."""
    key, model = roll.grain.key, roll.grain.latencies
    samples = samples_in(roll.tenant, [roll.window]).annotate(**{key: roll.key_of("start_time")})
    keys = (key, "provider_type", "provider_name")
    rows = []
    for row in histogram_rows(
        samples, keys, latency_sum=Sum("latency_ms"), calls=CALLS_WITH_SAMPLES
    ):
        sketch = Sketch()
        sketch.add_buckets(row["buckets"], row["counts"])
        totals = LatencyTotals.of(row, samples="n")
        period = row[key]
        if isinstance(period, datetime) and period.tzinfo is None:
            # A UTC hour as PostgreSQL truncates it (``histogram_rows`` reads past Django's
            # converters, which would make it aware).
            period = period.replace(tzinfo=UTC)
        extra = (
            {"quantiles": list(sketch.quantiles(PERCENTILES))} if model is LatencyDayRollup else {}
        )
        rows.append(
            model(
                tenant=roll.tenant,
                provider_type=row["provider_type"],
                provider_name=row["provider_name"],
                samples=totals.samples,
                latency_sum=totals.latency_sum,
                calls=totals.calls,
                histogram=sketch.to_dense(),
                **{key: period},
                **extra,
            )
        )
    model._default_manager.bulk_create(rows)


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
    tables: tuple[type[Model], ...] = (
        *ROLLUP_MODELS,
        LatencyMonthRollup,
        LatencyWeekRollup,
        RollupDay,
        RollupHour,
    )
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- The work of the beat -----------------------------------------------------------------------

Period = TypeVar("Period", date, datetime)

# Hours of a tenant rolled together at most (days: 31).
HOURS_PER_RUN = 24
# The last completed hours the beat checks for hours that have no state at all.
QUIET_HOURS_CHECKED = 3


def runs(
    pairs: list[tuple[int, Period]], *, step: timedelta = ONE_DAY, longest: int = 31
) -> list[tuple[int, Period, Period]]:
    """``(tenant id, period)`` pairs as ``(tenant id, first, last)`` runs of consecutive periods
    (days, or hours with ``step=HOUR``; at most ``longest`` of them), so each run is rolled
    with one set of grouped queries."""
    result: list[tuple[int, Period, Period]] = []
    for tenant_id, period in sorted(set(pairs)):
        if result:
            last_tenant, first, last = result[-1]
            if (
                last_tenant == tenant_id
                and period == last + step
                and period - first < step * longest
            ):
                result[-1] = (tenant_id, first, period)
                continue
        result.append((tenant_id, period, period))
    return result


def hour_runs(pairs: list[tuple[int, datetime]]) -> list[tuple[int, datetime, datetime]]:
    """``runs`` of hours."""
    return runs(pairs, step=HOUR, longest=HOURS_PER_RUN)


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


def dirty_hours(*, limit: int = 500, before: datetime | None = None) -> list[tuple[int, datetime]]:
    """The oldest-marked dirty ``(tenant id, hour)`` pairs, of hours starting before ``before``
    if given."""
    dirty = RollupHour.objects.filter(dirty_since__isnull=False)
    if before is not None:
        dirty = dirty.filter(hour__lt=before)
    return list(dirty.order_by("dirty_since").values_list("tenant_id", "hour")[:limit])


def unrolled_hours(hours: Sequence[datetime]) -> list[tuple[int, datetime]]:
    """Every tenant's ``hours`` that have no state at all: no write marked them and no roll
    rolled them. Rolling such a quiet hour makes it a clean, empty hour that reads can trust.
    One query: a row per tenant, each hour's state looked up by the unique (tenant, hour) index.
    """
    names = {f"h{n}": hour for n, hour in enumerate(hours)}
    rows = Tenant.objects.annotate(
        **{
            name: Exists(RollupHour.objects.filter(tenant=OuterRef("pk"), hour=hour))
            for name, hour in names.items()
        }
    ).values_list("pk", *names)
    return [
        (row[0], hour)
        for row in rows
        for has_state, hour in zip(row[1:], names.values(), strict=True)
        if not has_state
    ]


def hours_to_roll(*, limit: int, now: datetime | None = None) -> list[tuple[int, datetime]]:
    """What the beat rolls: the oldest-marked ``limit`` dirty hours that have ended (an hour still
    under way waits for its end: each of its writes would dirty it again), and the last few
    completed hours of every tenant that have no state yet."""
    current = utc_hour(now or timezone.now())
    quiet = [current - HOUR * n for n in range(QUIET_HOURS_CHECKED, 0, -1)]
    return [*dirty_hours(limit=limit, before=current), *unrolled_hours(quiet)]


def recent_hours(*, days: int, now: datetime | None = None) -> list[tuple[int, datetime]]:
    """Every tenant's completed UTC hours of the last ``days`` days (for the nightly reconcile)."""
    current = utc_hour(now or timezone.now())
    hours = list(hour_range(current - ONE_DAY * days, current - HOUR))
    return [
        (tenant_id, hour)
        for tenant_id in Tenant.objects.values_list("pk", flat=True)
        for hour in hours
    ]


def prune_hours(now: datetime | None = None) -> int:
    """Deletes the hour rollup rows of hours before the hour horizon, in one transaction, but
    their call totals (and their states, which vouch for the totals); returns how many rows
    went. A roll still writing such an hour in full leaves rows that no read takes (reads take
    only totals there), which the next prune deletes."""
    horizon = hour_horizon(now)
    # Naming the tenants lets each table's (tenant, hour) index find the rows.
    tenants = list(Tenant.objects.values_list("pk", flat=True))
    deleted = 0
    with transaction.atomic():
        for model in HOURS.models:
            old = model._default_manager.filter(tenant_id__in=tenants, hour__lt=horizon)
            if model is CallHourRollup:
                old = old.exclude(grouping=TOTALS)
            count, _ = old.delete()
            deleted += count
    return deleted
