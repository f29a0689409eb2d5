"""The analytics query layer: one function per endpoint, each pure (tenant, window, zone, filters
in; plain dicts out, in the endpoint family's shape).

Aggregates come from ``analytics.facts`` (per-local-day facts from raw rows today, from rollups for
clean days later) and are combined with the formulas of ``analytics.definitions``; row listings
(recent calls, error logs, the activity feed) and live counts (active calls) read rows directly.
Every function runs a fixed number of queries, whatever the size of the data.
"""

from __future__ import annotations

import math
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from analytics.definitions import (
    PERCENTILES,
    active,
    decimal_change,
    mean,
    percent,
    percent_change,
    ratio,
)
from analytics.facts import (
    NO_CALL_FILTERS,
    NO_LEAD_FILTERS,
    CallFilters,
    CallQuestion,
    CallTotals,
    FactScope,
    LatencyTotals,
    LeadFilters,
    LeadTotals,
    action_facts,
    call_answers,
    call_facts,
    call_hour_facts,
    event_facts,
    events_in,
    latency_facts,
    latency_summary,
    lead_facts,
    sum_totals,
)
from analytics.windows import (
    Window,
    date_range,
    date_window,
    day_start,
    hour_starts,
    iso_local,
    iso_utc,
    iso_utc_ms,
    local_days,
    week_start,
)
from calls.enums import CallStatus, ProviderType
from calls.models import Agent, Call, ErrorLog, Tenant, Workflow

# --- Synthflow family (GET /v2/analytics/) ------------------------------------------------------

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


def _pct2(value: float | None) -> float:
    """Synthflow shows shares and changes rounded to 2 decimals (90.91); 0 when undefined."""
    return round(value, 2) if value is not None else 0.0


def _by(facts: dict[tuple[Any, ...], CallTotals], position: int = 1) -> dict[Any, CallTotals]:
    """Folds day-keyed facts into totals per the dimension at ``position`` of the key."""
    folded: dict[Any, CallTotals] = defaultdict(CallTotals)
    for key, totals in facts.items():
        folded[key[position]].add(totals)
    return folded


def _per_day(facts: dict[tuple[Any, ...], CallTotals]) -> dict[date, CallTotals]:
    return _by(facts, 0)


# What the Synthflow blocks read of calls besides counts per day, status and end reason: per day
# and in all, calls, minutes and positive sentiment; per agent, calls, minutes and successes.
_DAY_MEASURES = ("calls", "duration_sum", "positive")
_AGENT_MEASURES = ("calls", "duration_sum", "successful")


def synthflow_analytics(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, filters: CallFilters
) -> dict[str, Any]:
    """``GET /v2/analytics/``: the seven blocks over ``window``, each change measured against the
    previous window of equal length, daily series for every local day of the window."""
    days = local_days(window, zone)
    scope = FactScope(tenant=tenant, window=window, zone=zone)

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
    previous = scope.previous()
    before, agents_before = call_answers(
        scope=previous,
        filters=filters,
        questions=[CallQuestion(by=("status",), per_day=False, measures=_DAY_MEASURES), agents],
    )
    actions_now = action_facts(scope=scope, filters=filters)
    actions_before = action_facts(scope=previous, filters=filters, per_day=False)

    daily = _per_day(by_day)
    total = sum_totals(daily.values(), CallTotals())
    total_before = sum_totals(before.values(), CallTotals())
    return {
        "executed_actions": _executed_actions(days, actions_now, actions_before),
        "assistant_performance": _assistant_performance(_by(agents_now, 0), _by(agents_before, 0)),
        "call_status_stat": _call_status_stat(days, current, before, total.calls),
        "recent_call_history": {
            "items": recent_calls(tenant=tenant, window=window, filters=filters)
        },
        "duration_metrics": _duration_metrics(days, daily, total, total_before),
        "end_call_reason_stat": _end_call_reason_stat(days, current, total.calls),
        "sentiment_stat": _sentiment_stat(days, daily, total, total_before),
    }


def _executed_actions(
    days: list[date],
    now: Mapping[tuple[date | None, str], int],
    before: Mapping[tuple[date | None, str], int],
) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    for (_, name), n in now.items():
        totals[name] += n
    totals_before: Counter[str] = Counter()
    for (_, name), n in before.items():
        totals_before[name] += n
    items = [
        {
            "name": name,
            "value": value,
            "series": [{"date": d.isoformat(), "value": now.get((d, name), 0)} for d in days],
            "percentage_change": _pct2(percent_change(value, totals_before[name])),
        }
        for name, value in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"items": items}


def _minutes(totals: CallTotals) -> float:
    return totals.duration_sum / 60


def _success_rate(totals: CallTotals) -> float:
    return percent(totals.successful, totals.calls) or 0.0


def _assistant_performance(
    now: dict[Any, CallTotals], before: dict[Any, CallTotals]
) -> dict[str, list[dict[str, Any]]]:
    ids = [agent_id for agent_id, totals in now.items() if agent_id is not None and totals.calls]
    agents = {a.pk: a for a in Agent.objects.filter(pk__in=ids).only("model_id", "name")}
    rows = []
    for agent_id in ids:
        agent = agents[agent_id]
        cur, prev = now[agent_id], before.get(agent_id, CallTotals())
        rows.append((agent, cur, prev))

    def ranked(metric: Any) -> list[tuple[Agent, CallTotals, CallTotals]]:
        return sorted(rows, key=lambda r: (-metric(r[1]), r[0].name, r[0].model_id))

    return {
        "by_minutes_used": [
            {
                "model_id": agent.model_id,
                "name": agent.name,
                "minutes_used": _minutes(cur),
                "percentage_change": _pct2(percent_change(_minutes(cur), _minutes(prev))),
            }
            for agent, cur, prev in ranked(_minutes)
        ],
        "by_calls_made": [
            {
                "model_id": agent.model_id,
                "name": agent.name,
                "calls_made": cur.calls,
                # Sic: Synthflow names this one field "percent_change".
                "percent_change": _pct2(percent_change(cur.calls, prev.calls)),
            }
            for agent, cur, prev in ranked(lambda t: t.calls)
        ],
        "by_success_rate": [
            {
                "model_id": agent.model_id,
                "name": agent.name,
                "success_rate": round(_success_rate(cur), 5),
                "percentage_change": _pct2(percent_change(_success_rate(cur), _success_rate(prev))),
            }
            for agent, cur, prev in ranked(_success_rate)
        ],
    }


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
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for (day, status, _reason), totals in now.items():
        counts[status] += totals.calls
        per_day[day][status] += totals.calls
    counts_before: Counter[str] = Counter()
    for (status,), totals in before.items():
        counts_before[status] += totals.calls
    items = [
        {
            "status": status,
            "value": value,
            "percentage": _pct2(percent(value, total_calls)),
            "percentage_change": _pct2(percent_change(value, counts_before[status])),
        }
        for status, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"items": items, "series": _count_series(days, STATUS_SERIES_KEYS, counts, per_day)}


def _end_call_reason_stat(
    days: list[date], now: dict[tuple[Any, ...], CallTotals], total_calls: int
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for (day, _status, reason), totals in now.items():
        if reason:  # a call without an end reason has none to count
            counts[reason] += totals.calls
            per_day[day][reason] += totals.calls
    items = [
        {"reason": reason, "value": value, "percentage": _pct2(percent(value, total_calls))}
        for reason, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "items": items,
        "series": _count_series(days, END_REASON_SERIES_KEYS, counts, per_day),
    }


def _average_minutes(totals: CallTotals) -> float:
    """Synthflow's ``average_duration``: minutes per call (0 without calls)."""
    return _minutes(totals) / totals.calls if totals.calls else 0.0


def _duration_metrics(
    days: list[date], daily: dict[date, CallTotals], total: CallTotals, before: CallTotals
) -> dict[str, Any]:
    series = []
    for d in days:
        totals = daily.get(d, CallTotals())
        series.append(
            {
                "date": d.isoformat(),
                "total_minutes": _minutes(totals),
                "average_duration": _average_minutes(totals),
                "total_calls": totals.calls,
            }
        )
    return {
        "total_minutes": _minutes(total),
        "average_duration": _average_minutes(total),
        "total_calls": total.calls,
        "series": series,
        "total_minutes_percentage_change": _pct2(percent_change(_minutes(total), _minutes(before))),
        "total_duration_percentage_change": _pct2(
            percent_change(total.duration_sum, before.duration_sum)
        ),
        "total_calls_percentage_change": _pct2(percent_change(total.calls, before.calls)),
    }


def _positive_percentage(totals: CallTotals) -> float:
    return percent(totals.positive, totals.calls) or 0.0


def _sentiment_stat(
    days: list[date], daily: dict[date, CallTotals], total: CallTotals, before: CallTotals
) -> dict[str, Any]:
    series = []
    for d in days:
        totals = daily.get(d, CallTotals())
        series.append({"date": d.isoformat(), "positive": totals.positive, "total": totals.calls})
    return {
        "positive_percentage": _pct2(_positive_percentage(total)),
        "series": series,
        "positive_percentage_change": _pct2(
            percent_change(_positive_percentage(total), _positive_percentage(before))
        ),
    }


def recent_calls(
    *, tenant: Tenant, window: Window, filters: CallFilters, limit: int = RECENT_CALLS
) -> list[dict[str, Any]]:
    """The ``limit`` newest calls started in ``window`` (Synthflow's ``recent_call_history``)."""
    calls = (
        Call.objects.filter(tenant=tenant, start_time__gte=window.start, start_time__lt=window.end)
        .filter(filters.q())
        .select_related("agent")
        .only(
            "call_id",
            "status",
            "duration",
            "lead_phone_number",
            "start_time",
            "agent",
            "agent__model_id",
            "agent__name",
        )
        .order_by("-start_time", "-id")[:limit]
    )
    return [
        {
            "call_id": call.call_id,
            "call_status": call.status,
            "duration": call.duration,
            "agent_name": call.agent.name if call.agent else None,
            "model_id": call.agent.model_id if call.agent else None,
            "lead_phone_number": call.lead_phone_number or None,
            "created_at": iso_utc(call.start_time),
        }
        for call in calls
    ]


# --- Voice-platform family (GET /api/v1/analytics/...) ----------------------------------------

Interval = Literal["hour", "day", "week"]
PROVIDER_ORDER = {value: index for index, value in enumerate(ProviderType.values)}


def active_call_count(*, tenant: Tenant, window: Window, now: datetime) -> int:
    """Calls started in ``window`` that are active at ``now`` (``definitions.active``)."""
    return (
        Call.objects.filter(tenant=tenant, start_time__gte=window.start, start_time__lt=window.end)
        .filter(active(now))
        .count()
    )


def platform_summary(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, now: datetime
) -> dict[str, Any]:
    """``/api/v1/analytics/summary``."""
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    total = sum_totals(call_facts(scope=scope, per_day=False).values(), CallTotals())
    latency: dict[str, LatencyTotals] = defaultdict(LatencyTotals)
    for (provider_type, _name), totals in latency_facts(
        scope=scope, with_calls=False, per_day=False
    ).items():
        latency[provider_type].add(totals)

    def avg_latency(provider_type: str) -> float | None:
        totals = latency.get(provider_type, LatencyTotals())
        return mean(totals.latency_sum, totals.samples)

    return {
        "total_calls": total.calls,
        "completed_calls": total.completed,
        "failed_calls": total.failed,
        "active_calls": active_call_count(tenant=tenant, window=window, now=now),
        "avg_duration_seconds": mean(total.duration_sum, total.duration_count),
        "success_rate": percent(total.completed, total.calls),
        "total_tokens": total.tokens_sum,
        "avg_stt_latency_ms": avg_latency(ProviderType.STT),
        "avg_llm_latency_ms": avg_latency(ProviderType.LLM),
        "avg_tts_latency_ms": avg_latency(ProviderType.TTS),
    }


def volume_buckets(window: Window, zone: zoneinfo.ZoneInfo, interval: Interval) -> int:
    """How many buckets ``call_volume`` would return (cheap; for parameter limits)."""
    hours = math.ceil(window.span / timedelta(hours=1)) + 1
    return {"hour": hours, "day": hours // 24 + 2, "week": hours // (24 * 7) + 2}[interval]


def call_volume(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, interval: Interval
) -> dict[str, Any]:
    """``/api/v1/analytics/call-volume``: calls per local hour, day or week, every bucket of the
    window present (zeros included). A bucket's ``timestamp`` is its local start."""
    buckets: list[tuple[datetime, CallTotals]]
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    if interval == "hour":
        facts = call_hour_facts(scope=scope)
        buckets = [(start, facts.get(start, CallTotals())) for start in hour_starts(window, zone)]
    else:
        daily = _per_day(call_facts(scope=scope))
        days = local_days(window, zone)
        if interval == "day":
            buckets = [(day_start(d, zone), daily.get(d, CallTotals())) for d in days]
        else:
            weekly: dict[date, CallTotals] = defaultdict(CallTotals)
            for d, totals in daily.items():
                weekly[week_start(d)].add(totals)
            mondays = sorted({week_start(d) for d in days})
            buckets = [(day_start(m, zone), weekly.get(m, CallTotals())) for m in mondays]
    return {
        "interval": interval,
        "data": [
            {
                "timestamp": iso_local(start, zone),
                "total": totals.calls,
                "completed": totals.completed,
                "failed": totals.failed,
            }
            for start, totals in buckets
        ],
    }


def workflow_stats(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, limit: int
) -> list[dict[str, Any]]:
    """``/api/v1/analytics/workflow-stats``: the ``limit`` workflows with the most calls."""
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    per_workflow = _by(call_facts(scope=scope, by=("workflow",), per_day=False), 0)
    per_workflow.pop(None, None)
    workflows = {
        w.pk: w
        for w in Workflow.objects.filter(tenant=tenant, pk__in=list(per_workflow)).only(
            "slug", "name"
        )
    }
    ranked = sorted(
        (w for w in workflows.values() if per_workflow[w.pk].calls),
        key=lambda w: (-per_workflow[w.pk].calls, w.slug),
    )[:limit]
    return [
        {
            "workflow_id": str(w.pk),
            "workflow_name": w.name,
            "workflow_slug": w.slug,
            "total_calls": per_workflow[w.pk].calls,
            "completed_calls": per_workflow[w.pk].completed,
            "failed_calls": per_workflow[w.pk].failed,
            "success_rate": percent(per_workflow[w.pk].completed, per_workflow[w.pk].calls),
            "avg_duration_seconds": mean(
                per_workflow[w.pk].duration_sum, per_workflow[w.pk].duration_count
            ),
        }
        for w in ranked
    ]


def provider_latency(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo
) -> list[dict[str, Any]]:
    """``/api/v1/analytics/provider-latency``: per provider type and name, the mean and exact
    p50/p95/p99 of the latency samples of calls started in ``window``, and how many calls."""
    summary = latency_summary(
        scope=FactScope(tenant=tenant, window=window, zone=zone), fractions=PERCENTILES
    )
    rows = []
    for key in sorted(summary, key=lambda k: (PROVIDER_ORDER.get(k[0], 99), k[0], k[1])):
        totals, (p50, p95, p99) = summary[key]
        rows.append(
            {
                "provider_type": key[0],
                "provider_name": key[1],
                "avg_latency_ms": totals.latency_sum / totals.samples,
                "p50_latency_ms": p50,
                "p95_latency_ms": p95,
                "p99_latency_ms": p99,
                "call_count": totals.calls,
            }
        )
    return rows


def error_logs(
    *,
    tenant: Tenant,
    window: Window,
    service: str | None,
    level: str | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """``/api/v1/analytics/errors``: error logs timestamped in ``window``, newest first."""
    logs = ErrorLog.objects.filter(
        tenant=tenant, timestamp__gte=window.start, timestamp__lt=window.end
    )
    if service is not None:
        logs = logs.filter(service=service)
    if level is not None:
        logs = logs.filter(level=level)
    total = logs.count()
    page = (
        logs.select_related("call")
        .only(
            "position",
            "timestamp",
            "service",
            "level",
            "message",
            "details",
            "agent_name",
            "call",
            "call__call_id",
        )
        .order_by("-timestamp", "-id")[offset : offset + limit]
    )
    items = [
        {
            "id": f"{log.call.call_id}-{log.position}" if log.call else f"error-{log.pk}",
            "call_id": log.call.call_id if log.call else None,
            "timestamp": iso_utc(log.timestamp),
            "service": log.service,
            "level": log.level,
            "message": log.message,
            "details": log.details,
            "agent": log.agent_name,
        }
        for log in page
    ]
    return {"items": items, "total": total}


# --- Sales family (GET /api/v1/analytics/{overview,funnel,activity}) ---------------------------

Granularity = Literal["day", "week", "month"]
Comparison = Literal["previous_period", "previous_year"]


@dataclass(frozen=True)
class DateSpan:
    """Tenant-local whole days ``first`` .. ``last``, both included."""

    first: date
    last: date

    def window(self, zone: zoneinfo.ZoneInfo) -> Window:
        return date_window(self.first, self.last, zone)

    def as_period(self) -> dict[str, str]:
        return {"startDate": self.first.isoformat(), "endDate": self.last.isoformat()}


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def comparison_span(span: DateSpan, compare_with: Comparison) -> DateSpan:
    """The period ``compareWith`` names.

    ``previous_period`` ends the day before ``startDate`` and spans ``endDate - startDate`` days
    (at least one), as the seed's 2026-03-01..31 → 2026-01-30..02-28 shows; ``previous_year`` is
    the same dates a year earlier.
    """
    if compare_with == "previous_year":
        return DateSpan(_year_earlier(span.first), _year_earlier(span.last))
    length = max((span.last - span.first).days, 1)
    return DateSpan(span.first - timedelta(days=length), span.first - timedelta(days=1))


def sales_buckets(span: DateSpan, granularity: Granularity) -> list[tuple[str, date, date]]:
    """``(label, first, last)`` of each ``timeSeries`` bucket.

    Days are labelled ``YYYY-MM-DD``; weeks are 7-day runs from ``startDate`` (a shorter trailing
    run joins the previous week) and months are calendar months clipped to the span, both
    labelled ``first/last``.
    """
    if granularity == "day":
        return [(d.isoformat(), d, d) for d in date_range(span.first, span.last)]
    runs: list[tuple[date, date]] = []
    if granularity == "week":
        start = span.first
        while start <= span.last:
            end = min(start + timedelta(days=6), span.last)
            if (end - start).days < 6 and runs:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
            start = end + timedelta(days=1)
    else:
        start = span.first
        while start <= span.last:
            next_month = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
            end = min(next_month - timedelta(days=1), span.last)
            runs.append((start, end))
            start = end + timedelta(days=1)
    return [(f"{a.isoformat()}/{b.isoformat()}", a, b) for a, b in runs]


@dataclass
class _SalesFacts:
    # Per local day (or one total keyed None): all calls (Visitors), completed calls
    # (conversations) and leads.
    calls: dict[date | None, CallTotals]
    conversations: dict[date | None, CallTotals]
    leads: dict[date | None, LeadTotals]

    def totals(self) -> _SalesTotals:
        return _SalesTotals(
            calls=sum_totals(self.calls.values(), CallTotals()),
            conversations=sum_totals(self.conversations.values(), CallTotals()),
            leads=sum_totals(self.leads.values(), LeadTotals()),
        )

    def bucket_totals(self, buckets: Sequence[tuple[date, date]]) -> list[_SalesTotals]:
        """The totals of each ``(first, last)`` bucket of days (buckets do not overlap), in one
        pass over the days."""
        bucket_of: dict[date | None, int] = {
            d: i for i, (first, last) in enumerate(buckets) for d in date_range(first, last)
        }
        result = [_SalesTotals(CallTotals(), CallTotals(), LeadTotals()) for _ in buckets]
        for day, calls in self.calls.items():
            if (i := bucket_of.get(day)) is not None:
                result[i].calls.add(calls)
        for day, conversations in self.conversations.items():
            if (i := bucket_of.get(day)) is not None:
                result[i].conversations.add(conversations)
        for day, leads in self.leads.items():
            if (i := bucket_of.get(day)) is not None:
                result[i].leads.add(leads)
        return result


@dataclass
class _SalesTotals:
    calls: CallTotals
    conversations: CallTotals
    leads: LeadTotals

    @property
    def conversion_rate(self) -> float | None:
        """qualifiedLeads / totalConversations (what the seed's numbers compute)."""
        return ratio(self.leads.qualified, self.conversations.calls)


def _sales_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    calls: CallFilters = NO_CALL_FILTERS,
    leads: LeadFilters = NO_LEAD_FILTERS,
    stages: Sequence[Any] = ("created", "qualified"),
    per_day: bool = True,
) -> _SalesFacts:
    """Per local day (or one total keyed ``None`` without ``per_day``): all calls (Visitors),
    completed calls (conversations) and leads."""
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    leads_facts = lead_facts(scope=scope, filters=leads, stages=stages, per_day=per_day)
    if not per_day:
        by_status = call_facts(scope=scope, filters=calls, by=("status",), per_day=False)
        completed = by_status.get((CallStatus.COMPLETED,))
        return _SalesFacts(
            calls={None: sum_totals(by_status.values(), CallTotals())},
            conversations={None: completed} if completed else {},
            leads=leads_facts,
        )
    all_calls = call_facts(scope=scope, filters=calls)
    conversations = call_facts(scope=scope, filters=replace(calls, status=CallStatus.COMPLETED))
    return _SalesFacts(
        calls={day: totals for (day,), totals in all_calls.items()},
        conversations={day: totals for (day,), totals in conversations.items()},
        leads=leads_facts,
    )


def _money(value: Decimal) -> float:
    return float(value)


def sales_overview(
    *,
    tenant: Tenant,
    span: DateSpan,
    zone: zoneinfo.ZoneInfo,
    granularity: Granularity,
    compare_with: Comparison | None,
) -> dict[str, Any]:
    """``/api/v1/analytics/overview``: summary, time series and optional comparison."""
    facts = _sales_facts(tenant=tenant, window=span.window(zone), zone=zone)
    total = facts.totals()
    conversations = total.conversations
    summary = {
        "totalConversations": conversations.calls,
        "totalLeads": total.leads.created,
        "qualifiedLeads": total.leads.qualified,
        "conversionRate": total.conversion_rate,
        "avgLeadScore": mean(total.leads.score_sum, total.leads.score_count),
        "avgResponseTime": _seconds(
            mean(conversations.response_time_sum, conversations.response_time_count)
        ),
        "avgMessagesPerConversation": ratio(conversations.turns, conversations.calls),
        "handoffRate": ratio(conversations.handoffs, conversations.calls),
        "totalRevenuePipeline": _money(total.leads.pipeline),
    }
    time_series = []
    buckets = sales_buckets(span, granularity)
    for (label, _, _), bucket in zip(
        buckets, facts.bucket_totals([(a, b) for _, a, b in buckets]), strict=True
    ):
        time_series.append(
            {
                "period": label,
                "conversations": bucket.conversations.calls,
                "leads": bucket.leads.created,
                "qualifiedLeads": bucket.leads.qualified,
                "conversionRate": bucket.conversion_rate,
            }
        )
    comparison = None
    if compare_with is not None:
        other = comparison_span(span, compare_with)
        before = _sales_facts(
            tenant=tenant, window=other.window(zone), zone=zone, per_day=False
        ).totals()

        def compared(current: float | None, previous: float | None) -> dict[str, Any]:
            return {"value": previous, "change": decimal_change(current, previous)}

        comparison = {
            "period": other.as_period(),
            "totalConversations": compared(conversations.calls, before.conversations.calls),
            "totalLeads": compared(total.leads.created, before.leads.created),
            "qualifiedLeads": compared(total.leads.qualified, before.leads.qualified),
            "conversionRate": compared(total.conversion_rate, before.conversion_rate),
        }
    return {
        "period": span.as_period(),
        "summary": summary,
        "comparison": comparison,
        "timeSeries": time_series,
    }


def _seconds(milliseconds: float | None) -> float | None:
    return milliseconds / 1000 if milliseconds is not None else None


FUNNEL_STAGES = (
    "Visitors",
    "Engaged (Started Chat)",
    "Lead Captured",
    "Qualified",
    "Demo Booked",
    "Converted",
)


def sales_funnel(
    *,
    tenant: Tenant,
    span: DateSpan,
    zone: zoneinfo.ZoneInfo,
    channel: str | None,
    source: str | None,
) -> dict[str, Any]:
    """``/api/v1/analytics/funnel``: Visitors (all calls) → Engaged (conversations) → Lead
    Captured (leads created) → Qualified → Demo Booked → Converted (leads by stage stamp)."""
    facts = _sales_facts(
        tenant=tenant,
        window=span.window(zone),
        zone=zone,
        calls=CallFilters(channel=channel, lead_source=source),
        leads=LeadFilters(channel=channel, source=source),
        stages=("created", "qualified", "demo_booked", "converted"),
        per_day=False,
    )
    total = facts.totals()
    counts = [
        total.calls.calls,
        total.conversations.calls,
        total.leads.created,
        total.leads.qualified,
        total.leads.demo_booked,
        total.leads.converted,
    ]
    stages = [
        {
            "name": name,
            "count": count,
            "conversionToNext": ratio(counts[i + 1], count) if i + 1 < len(counts) else None,
        }
        for i, (name, count) in enumerate(zip(FUNNEL_STAGES, counts, strict=True))
    ]
    drops = [(counts[i] - counts[i + 1], i) for i in range(len(counts) - 1)]
    # The step losing the most entries; the earliest on a tie; none when no step loses any.
    loss, step = max(drops, key=lambda d: (d[0], -d[1]))
    return {
        "period": span.as_period(),
        "stages": stages,
        "overallConversion": ratio(counts[-1], counts[0]),
        "topDropoffStage": (
            f"{FUNNEL_STAGES[step]} -> {FUNNEL_STAGES[step + 1]}" if loss > 0 else None
        ),
    }


def activity_feed(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    types: Sequence[str],
    lead_id: str | None,
    page: int,
    limit: int,
) -> dict[str, Any]:
    """``/api/v1/analytics/activity``: events that occurred in ``window``, newest first.

    The total counts events per day (from rollups for clean whole days); one lead's events are
    few and counted directly.
    """
    events = events_in(tenant, [window], types)
    if lead_id is not None:
        events = events.filter(lead__lead_id=lead_id)
        total = events.count()
    else:
        scope = FactScope(tenant=tenant, window=window, zone=zone)
        total = sum(event_facts(scope=scope, types=types).values())
    offset = (page - 1) * limit
    rows = (
        events.select_related("lead", "call")
        .only(
            "event_id",
            "type",
            "description",
            "metadata",
            "occurred_at",
            "lead",
            "call",
            "lead__lead_id",
            "call__call_id",
        )
        .order_by("-occurred_at", "-id")[offset : offset + limit]
    )
    total_pages = math.ceil(total / limit)
    return {
        "data": [
            {
                "id": event.event_id,
                "type": event.type,
                "leadId": event.lead.lead_id if event.lead else None,
                "conversationId": event.call.call_id if event.call else None,
                "description": event.description,
                "metadata": event.metadata,
                "occurredAt": iso_utc_ms(event.occurred_at),
            }
            for event in rows
        ],
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "totalPages": total_pages,
            "hasMore": page < total_pages,
        },
    }
