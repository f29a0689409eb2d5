"""The Synthflow family: ``GET /v2/analytics/``, seven blocks over a window, each change measured
against the previous window of equal length, daily series for every local day of the window."""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import QuerySet

from analytics.definitions import percent, percent_change
from analytics.facts import (
    CallFilters,
    CallQuestion,
    CallTotals,
    FactScope,
    action_facts,
    call_answers,
    sum_totals,
)
from analytics.queries import folds
from analytics.windows import Window, iso_utc, local_days
from calls.models import Agent, Call, Tenant
from config.statements import values_rows

# Keys every day of the status and end-reason series carries (the published Synthflow schema),
# whether or not any call had them; other values seen in the window are added after these.
STATUS_SERIES_KEYS: tuple[str, ...] = (
    "completed",
    "hangup_on_voicemail",
    "busy",
    "no-answer",
    "failed",
    "left_voicemail",
    "in-progress",
    "checking",
    "paused",
    "queue",
    "initiated",
    "ringing",
)
END_REASON_SERIES_KEYS: tuple[str, ...] = (
    "voicemail",
    "human_goodbye",
    "agent_goodbye",
    "human_pick_up_cut_off",
    "max_duration",
    "idle_time_exceeded",
    "goodbye_detected",
    "user_disconnected",
    "voicemail_message_left",
)
RECENT_CALLS = 20


def _counts_by_date(keys: tuple[str, ...], description: str) -> dict[str, Any]:
    """The schema of a series of per-day count maps: ``date`` and every one of ``keys``, and
    any other key seen in the window."""
    return {
        "type": "array",
        "items": {
            "type": "object",
            "description": description,
            "properties": {
                "date": {"type": "string", "format": "date"},
                **{key: {"type": "integer"} for key in keys},
            },
            "required": ["date", *keys],
            "additionalProperties": {"type": "integer"},
        },
    }


# --- Result shapes (field names are the wire's) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynthflowDatedValue:
    date: date
    value: int


@dataclass(frozen=True, slots=True)
class SynthflowExecutedActionItem:
    name: str = field(metadata={"help": "Action name."})
    value: int = field(metadata={"help": "Executions in the window."})
    series: list[SynthflowDatedValue]
    percentage_change: float


@dataclass(frozen=True, slots=True)
class SynthflowExecutedActions:
    items: list[SynthflowExecutedActionItem]


@dataclass(frozen=True, slots=True)
class SynthflowMinutesUsed:
    model_id: str
    name: str
    minutes_used: float
    percentage_change: float


@dataclass(frozen=True, slots=True)
class SynthflowCallsMade:
    model_id: str
    name: str
    calls_made: int
    # Sic: Synthflow names this one field "percent_change".
    percent_change: float


@dataclass(frozen=True, slots=True)
class SynthflowSuccessRate:
    model_id: str
    name: str
    success_rate: float = field(
        metadata={
            "help": "Successful calls / calls, in percent: a call is successful when its "
            "document said so, else when it completed with a goodbye-like end reason "
            "(agent_goodbye, human_goodbye, ...). Not the "
            "completion rate that /api/v1/analytics/summary and workflow-stats call "
            "success_rate (completed calls / calls)."
        }
    )
    percentage_change: float = field(
        metadata={
            "help": "Change of success_rate against the previous window in percent of its "
            "previous value (not percentage points), as Synthflow computes it."
        }
    )


@dataclass(frozen=True, slots=True)
class SynthflowAssistantPerformance:
    by_minutes_used: list[SynthflowMinutesUsed]
    by_calls_made: list[SynthflowCallsMade]
    by_success_rate: list[SynthflowSuccessRate]


@dataclass(frozen=True, slots=True)
class SynthflowCallStatusItem:
    status: str
    value: int
    percentage: float
    percentage_change: float


@dataclass(frozen=True, slots=True)
class SynthflowCallStatusStat:
    items: list[SynthflowCallStatusItem]
    # One count map per local day: its keys are the statuses, known only from the data.
    series: list[dict[str, Any]] = field(
        metadata={
            "schema": _counts_by_date(
                STATUS_SERIES_KEYS, "Calls per status on one local day; other statuses seen."
            )
        }
    )


@dataclass(frozen=True, slots=True)
class SynthflowRecentCall:
    call_id: str
    call_status: str
    duration: int | None
    agent_name: str | None
    model_id: str | None
    lead_phone_number: str | None
    created_at: str = field(metadata={"format": "date-time", "help": "The call's start."})


@dataclass(frozen=True, slots=True)
class SynthflowRecentCallHistory:
    items: list[SynthflowRecentCall]


@dataclass(frozen=True, slots=True)
class SynthflowDurationPoint:
    date: date
    total_minutes: float
    average_duration: float
    total_calls: int


@dataclass(frozen=True, slots=True)
class SynthflowDurationMetrics:
    total_minutes: float
    average_duration: float = field(metadata={"help": "Minutes per call."})
    total_calls: int
    series: list[SynthflowDurationPoint]
    total_minutes_percentage_change: float
    total_duration_percentage_change: float
    total_calls_percentage_change: float


@dataclass(frozen=True, slots=True)
class SynthflowEndCallReasonItem:
    reason: str
    value: int
    percentage: float


@dataclass(frozen=True, slots=True)
class SynthflowEndCallReasonStat:
    items: list[SynthflowEndCallReasonItem]
    # As ``SynthflowCallStatusStat.series``, per end reason.
    series: list[dict[str, Any]] = field(
        metadata={
            "schema": _counts_by_date(
                END_REASON_SERIES_KEYS, "Calls per end reason on one local day."
            )
        }
    )


@dataclass(frozen=True, slots=True)
class SynthflowSentimentPoint:
    date: date
    positive: int
    total: int


@dataclass(frozen=True, slots=True)
class SynthflowSentimentStat:
    positive_percentage: float
    series: list[SynthflowSentimentPoint]
    positive_percentage_change: float


@dataclass(frozen=True, slots=True)
class SynthflowAnalytics:
    executed_actions: SynthflowExecutedActions
    assistant_performance: SynthflowAssistantPerformance
    call_status_stat: SynthflowCallStatusStat
    recent_call_history: SynthflowRecentCallHistory
    duration_metrics: SynthflowDurationMetrics
    end_call_reason_stat: SynthflowEndCallReasonStat
    sentiment_stat: SynthflowSentimentStat


# --- Queries -----------------------------------------------------------------------------------
def _pct2(value: float | None) -> float:
    """Synthflow shows shares and changes rounded to 2 decimals (90.91); 0 when undefined."""
    return round(value, 2) if value is not None else 0.0


# What the Synthflow blocks read of calls besides counts per day, status and end reason: per day
# and in all, calls, minutes and positive sentiment; per agent, calls, minutes and successes.
_DAY_MEASURES = ("calls", "duration_sum", "positive")
_AGENT_MEASURES = ("calls", "duration_sum", "successful")


def synthflow_analytics(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, filters: CallFilters
) -> SynthflowAnalytics:
    """``GET /v2/analytics/``: the seven blocks over ``window``, each change measured against the
    previous window of equal length, daily series for every local day of the window."""
    days = local_days(window, zone)
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    previous = scope.previous()

    agents = CallQuestion(by=("agent",), per_day=False, measures=_AGENT_MEASURES)
    current, by_day, agents_now = call_answers(
        scope=scope,
        filters=filters,
        questions=[
            CallQuestion(by=("status", "end_call_reason"), measures=("calls",)),
            CallQuestion(measures=_DAY_MEASURES),
            agents,
        ],
    )
    before, agents_before = call_answers(
        scope=previous,
        filters=filters,
        questions=[CallQuestion(by=("status",), per_day=False, measures=_DAY_MEASURES), agents],
    )
    actions_now = action_facts(scope=scope, filters=filters)
    actions_before = action_facts(scope=previous, filters=filters, per_day=False)

    daily = folds.per_day(by_day)
    total = sum_totals(daily.values(), CallTotals())
    total_before = sum_totals(before.values(), CallTotals())
    return SynthflowAnalytics(
        executed_actions=_executed_actions(days, actions_now, actions_before),
        assistant_performance=_assistant_performance(
            folds.by(agents_now, 0), folds.by(agents_before, 0)
        ),
        call_status_stat=_call_status_stat(days, current, before, total.calls),
        recent_call_history=SynthflowRecentCallHistory(
            items=recent_calls(tenant=tenant, window=window, filters=filters)
        ),
        duration_metrics=_duration_metrics(days, daily, total, total_before),
        end_call_reason_stat=_end_call_reason_stat(days, current, total.calls),
        sentiment_stat=_sentiment_stat(days, daily, total, total_before),
    )


def _executed_actions(
    days: list[date],
    now: Mapping[tuple[date | None, str], int],
    before: Mapping[tuple[date | None, str], int],
) -> SynthflowExecutedActions:
    totals: Counter[str] = Counter()
    for (_, name), n in now.items():
        totals[name] += n
    totals_before: Counter[str] = Counter()
    for (_, name), n in before.items():
        totals_before[name] += n
    items = [
        SynthflowExecutedActionItem(
            name=name,
            value=value,
            series=[SynthflowDatedValue(date=d, value=now.get((d, name), 0)) for d in days],
            percentage_change=_pct2(percent_change(value, totals_before[name])),
        )
        for name, value in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return SynthflowExecutedActions(items=items)


def _minutes(totals: CallTotals) -> float:
    return totals.duration_sum / 60


def _success_rate(totals: CallTotals) -> float:
    return percent(totals.successful, totals.calls) or 0.0


def _assistant_performance(
    now: dict[Any, CallTotals], before: dict[Any, CallTotals]
) -> SynthflowAssistantPerformance:
    ids = [agent_id for agent_id, totals in now.items() if agent_id is not None and totals.calls]
    agents = {a.pk: a for a in Agent.objects.filter(pk__in=ids).only("model_id", "name")}
    rows = []
    for agent_id in ids:
        agent = agents[agent_id]
        cur, prev = now[agent_id], before.get(agent_id, CallTotals())
        rows.append((agent, cur, prev))

    def ranked(metric: Any) -> list[tuple[Agent, CallTotals, CallTotals]]:
        return sorted(rows, key=lambda r: (-metric(r[1]), r[0].name, r[0].model_id))

    return SynthflowAssistantPerformance(
        by_minutes_used=[
            SynthflowMinutesUsed(
                model_id=agent.model_id,
                name=agent.name,
                minutes_used=_minutes(cur),
                percentage_change=_pct2(percent_change(_minutes(cur), _minutes(prev))),
            )
            for agent, cur, prev in ranked(_minutes)
        ],
        by_calls_made=[
            SynthflowCallsMade(
                model_id=agent.model_id,
                name=agent.name,
                calls_made=cur.calls,
                percent_change=_pct2(percent_change(cur.calls, prev.calls)),
            )
            for agent, cur, prev in ranked(lambda t: t.calls)
        ],
        by_success_rate=[
            SynthflowSuccessRate(
                model_id=agent.model_id,
                name=agent.name,
                success_rate=round(_success_rate(cur), 5),
                percentage_change=_pct2(percent_change(_success_rate(cur), _success_rate(prev))),
            )
            for agent, cur, prev in ranked(_success_rate)
        ],
    )


def _count_series(
    days: list[date],
    defaults: Sequence[str],
    seen: Iterable[str],
    per_day: Mapping[date, Mapping[str, int]],
) -> list[dict[str, Any]]:
    """A point per day: its count of every key (the ``defaults``, then any other key ``seen``,
    sorted), 0 for a key the day has none of."""
    zeros = dict.fromkeys([*defaults, *sorted(set(seen) - set(defaults))], 0)
    return [{"date": d.isoformat(), **zeros, **per_day.get(d, {})} for d in days]


def _call_status_stat(
    days: list[date],
    now: dict[tuple[Any, ...], CallTotals],
    before: dict[tuple[Any, ...], CallTotals],
    total_calls: int,
) -> SynthflowCallStatusStat:
    counts: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for (day, status, _reason), totals in now.items():
        counts[status] += totals.calls
        per_day[day][status] += totals.calls
    counts_before: Counter[str] = Counter()
    for (status,), totals in before.items():
        counts_before[status] += totals.calls
    items = [
        SynthflowCallStatusItem(
            status=status,
            value=value,
            percentage=_pct2(percent(value, total_calls)),
            percentage_change=_pct2(percent_change(value, counts_before[status])),
        )
        for status, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return SynthflowCallStatusStat(
        items=items, series=_count_series(days, STATUS_SERIES_KEYS, counts, per_day)
    )


def _end_call_reason_stat(
    days: list[date], now: dict[tuple[Any, ...], CallTotals], total_calls: int
) -> SynthflowEndCallReasonStat:
    counts: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for (day, _status, reason), totals in now.items():
        if reason:  # a call without an end reason has none to count
            counts[reason] += totals.calls
            per_day[day][reason] += totals.calls
    items = [
        SynthflowEndCallReasonItem(
            reason=reason, value=value, percentage=_pct2(percent(value, total_calls))
        )
        for reason, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return SynthflowEndCallReasonStat(
        items=items, series=_count_series(days, END_REASON_SERIES_KEYS, counts, per_day)
    )


def _average_minutes(totals: CallTotals) -> float:
    """Synthflow's ``average_duration``: minutes per call (0 without calls)."""
    return _minutes(totals) / totals.calls if totals.calls else 0.0


def _duration_metrics(
    days: list[date], daily: dict[date, CallTotals], total: CallTotals, before: CallTotals
) -> SynthflowDurationMetrics:
    series = []
    for d in days:
        totals = daily.get(d, CallTotals())
        series.append(
            SynthflowDurationPoint(
                date=d,
                total_minutes=_minutes(totals),
                average_duration=_average_minutes(totals),
                total_calls=totals.calls,
            )
        )
    return SynthflowDurationMetrics(
        total_minutes=_minutes(total),
        average_duration=_average_minutes(total),
        total_calls=total.calls,
        series=series,
        total_minutes_percentage_change=_pct2(percent_change(_minutes(total), _minutes(before))),
        total_duration_percentage_change=_pct2(
            percent_change(total.duration_sum, before.duration_sum)
        ),
        total_calls_percentage_change=_pct2(percent_change(total.calls, before.calls)),
    )


def _positive_percentage(totals: CallTotals) -> float:
    return percent(totals.positive, totals.calls) or 0.0


def _sentiment_stat(
    days: list[date], daily: dict[date, CallTotals], total: CallTotals, before: CallTotals
) -> SynthflowSentimentStat:
    series = []
    for d in days:
        totals = daily.get(d, CallTotals())
        series.append(SynthflowSentimentPoint(date=d, positive=totals.positive, total=totals.calls))
    return SynthflowSentimentStat(
        positive_percentage=_pct2(_positive_percentage(total)),
        series=series,
        positive_percentage_change=_pct2(
            percent_change(_positive_percentage(total), _positive_percentage(before))
        ),
    )


def recent_calls(
    *, tenant: Tenant, window: Window, filters: CallFilters, limit: int = RECENT_CALLS
) -> list[SynthflowRecentCall]:
    """The ``limit`` newest calls started in ``window`` (Synthflow's ``recent_call_history``)."""
    given = filters.given()

    def build(values: Sequence[Any]) -> QuerySet[Call, tuple[Any, ...]]:
        tenant_id, start, end, *filtered = values
        return (
            Call.objects.filter(tenant_id=tenant_id, start_time__gte=start, start_time__lt=end)
            .filter(CallFilters(**dict(zip(given, filtered, strict=True))).q())
            .order_by("-start_time", "-id")
            .values_list(
                "call_id",
                "status",
                "duration",
                "agent__name",
                "agent__model_id",
                "lead_phone_number",
                "start_time",
            )[:limit]
        )

    values = [tenant.pk, window.start, window.end, *filters.values()]
    return [
        SynthflowRecentCall(
            call_id=call_id,
            call_status=status,
            duration=duration,
            agent_name=agent_name,
            model_id=model_id,
            lead_phone_number=phone or None,
            created_at=iso_utc(started),
        )
        for call_id, status, duration, agent_name, model_id, phone, started in values_rows(
            ("recent_calls", given, limit), build, values
        )
    ]
