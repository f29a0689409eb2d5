"""The admin dashboard's reads: every number ``analytics.dashboard`` shows, as typed results.

The dashboard is one answer (``one_answer``): its facts are read over one view of the rollups
and, on PostgreSQL, in one transaction with JIT compilation off. The number of queries is fixed,
whatever the size of the data and the length of the window.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from analytics.definitions import PERCENTILES
from analytics.facts import (
    LEAD_STAGE_COLUMNS,
    LEAD_STAGES,
    NO_CALL_FILTERS,
    VOLUME_MEASURES,
    CallFilters,
    CallTotals,
    FactScope,
    LeadTotals,
    call_facts,
    call_hour_facts,
    latency_series,
    lead_facts,
    one_answer,
    sum_totals,
)
from analytics.queries import folds
from analytics.queries.platform import active_call_count
from analytics.windows import Window, hour_starts
from calls.models import Agent, Call, Tenant, Workflow, stale_after

# --- Result shapes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HourVolume:
    """Calls started in one local hour (``start``: its first instant)."""

    start: datetime
    calls: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class RankedTotals:
    """An agent or workflow among those with the most calls, and the totals of its calls."""

    pk: int
    name: str
    totals: CallTotals


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """The latency samples of one provider over one local day or week."""

    calls: int
    samples: int
    # One per ``analytics.definitions.PERCENTILES`` (``None`` without samples).
    percentiles: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class LeadStageCount:
    """Leads whose ``column`` stamp (a ``Lead`` field) falls in the window."""

    column: str
    count: int


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    """The sales funnel's entries: every call of the window whatever the agent and type (as the
    sales API counts them), the completed ones, then leads by stage in funnel order."""

    calls: int
    completed: int
    leads: tuple[LeadStageCount, ...]


@dataclass(frozen=True, slots=True)
class ActiveCalls:
    """Calls active at ``now`` (all agents and types). ``window`` is when they may have
    started. A count at one instant has no previous window to compare with."""

    now: int
    window: Window


@dataclass(frozen=True, slots=True)
class DashboardNumbers:
    # The calls of the window and of the one of equal length before it (agent and type applied).
    totals: CallTotals
    totals_before: CallTotals
    # Calls per (local day, status).
    calls_by_day_status: dict[tuple[date, str], int]
    # Every local hour of the window, in order; read (and not empty) only when asked for.
    hours: list[HourVolume]
    # Calls per end reason ("" or ``None``: calls without one).
    calls_by_end_reason: dict[str | None, int]
    agents: list[RankedTotals]
    workflows: list[RankedTotals]
    # Keyed by (local day, or the Monday of a local week, provider type, provider name).
    latency: dict[tuple[date, str, str], LatencyPoint]
    funnel: FunnelCounts
    active: ActiveCalls


# --- Queries -----------------------------------------------------------------------------------

# Facts are read grouped by what the charts need, and the database sums away the rest: calls per
# local day and status for the volume chart (a few rows a day), and the window's totals for the
# ranked charts in two reads, per end reason and per agent and workflow. Each of those is summed
# from the smallest rollup grouping that holds its columns (a year of the grouping keyed by all
# three is 60,000 rows at a million calls, of the two smaller ones 12,000); agents and workflows
# share one read, so the raw reads of a window's partial edge days happen twice, not three times.
_REASON = 0
_AGENT, _WORKFLOW = 0, 1


def dashboard_numbers(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    agent: Agent | None,
    type_of_call: str | None,
    hourly: bool,
    weekly_latency: bool,
    top: int,
    now: datetime,
) -> DashboardNumbers:
    """Everything the dashboard shows about the calls of ``tenant`` started in ``window``, of
    ``agent`` and ``type_of_call`` when given (latency, the funnel and active calls are about
    all of them). ``hourly`` reads the calls per local hour, ``weekly_latency`` the latency
    percentiles per local week instead of per day; ``top`` agents and workflows are ranked."""
    with one_answer():
        return _numbers(
            scope=FactScope(tenant=tenant, window=window, zone=zone),
            filters=CallFilters(
                agent_model_id=agent.model_id if agent else None,
                type_of_call=type_of_call,
            ),
            hourly=hourly,
            weekly_latency=weekly_latency,
            top=top,
            now=now,
        )


def _numbers(
    *,
    scope: FactScope,
    filters: CallFilters,
    hourly: bool,
    weekly_latency: bool,
    top: int,
    now: datetime,
) -> DashboardNumbers:
    by_status = call_facts(scope=scope, filters=filters, by=("status",))
    before = call_facts(scope=scope.previous(), filters=filters, per_day=False)
    reasons = call_facts(scope=scope, filters=filters, by=("end_call_reason",), per_day=False)
    ranked = call_facts(scope=scope, filters=filters, by=("agent", "workflow"), per_day=False)
    total = sum_totals(by_status.values(), CallTotals())
    hours = _hours(scope, filters) if hourly else []
    latency = {
        key: LatencyPoint(calls=totals.calls, samples=totals.samples, percentiles=percentiles)
        for key, (totals, percentiles) in latency_series(
            scope=scope,
            fractions=PERCENTILES,
            # Per day, the facts give days read from raw rows exact percentiles, as the API does.
            weekly=weekly_latency,
        ).items()
    }
    per_agent = folds.by(ranked, _AGENT)
    top_agents = _top_keys(per_agent, top)
    agent_names = {
        a.pk: a.name or a.model_id
        for a in Agent.objects.filter(tenant=scope.tenant, pk__in=top_agents).only(
            "name", "model_id"
        )
    }
    per_workflow = folds.by(ranked, _WORKFLOW)
    top_workflows = _top_keys(per_workflow, top)
    workflow_names = {
        w.pk: w.name or w.slug
        for w in Workflow.objects.filter(tenant=scope.tenant, pk__in=top_workflows).only(
            "name", "slug"
        )
    }
    # The funnel follows the sales API: every call of the window, whatever the agent and type.
    all_calls = (
        sum_totals(
            call_facts(scope=scope, per_day=False).values(),
            CallTotals(),
        )
        if filters != NO_CALL_FILTERS
        else total
    )
    leads = sum_totals(
        lead_facts(scope=scope, stages=LEAD_STAGES, per_day=False).values(), LeadTotals()
    )
    return DashboardNumbers(
        totals=total,
        totals_before=sum_totals(before.values(), CallTotals()),
        calls_by_day_status={(day, status): t.calls for (day, status), t in by_status.items()},
        hours=hours,
        calls_by_end_reason={reason: t.calls for reason, t in folds.by(reasons, _REASON).items()},
        agents=[
            RankedTotals(pk=pk, name=agent_names.get(pk, f"agent {pk}"), totals=per_agent[pk])
            for pk in top_agents
        ],
        workflows=[
            RankedTotals(
                pk=pk, name=workflow_names.get(pk, f"workflow {pk}"), totals=per_workflow[pk]
            )
            for pk in top_workflows
        ],
        latency=latency,
        funnel=FunnelCounts(
            calls=all_calls.calls,
            completed=all_calls.completed,
            leads=tuple(
                LeadStageCount(column=LEAD_STAGE_COLUMNS[stage], count=getattr(leads, stage))
                for stage in LEAD_STAGES
            ),
        ),
        active=_active(scope, now),
    )


def _hours(scope: FactScope, filters: CallFilters) -> list[HourVolume]:
    facts = call_hour_facts(scope=scope, filters=filters, measures=VOLUME_MEASURES)
    hours = []
    for start in hour_starts(scope.window, scope.zone):
        totals = facts.get(start, CallTotals())
        hours.append(HourVolume(start, totals.calls, totals.completed, totals.failed))
    return hours


def _top_keys(per_key: dict[Any, CallTotals], limit: int) -> list[Any]:
    """The ``limit`` keys with the most calls (ties by key), calls without one left out."""
    counts = ((pk, t.calls) for pk, t in per_key.items() if pk is not None)
    return [pk for pk, _ in folds.top(counts, limit)]


def _active(scope: FactScope, now: datetime) -> ActiveCalls:
    live = Window(now - stale_after(), now)
    return ActiveCalls(
        now=active_call_count(tenant=scope.tenant, window=live, now=now), window=live
    )


# --- Calls in progress -------------------------------------------------------------------------

# The dashboard's "Calls in progress" panel lists at most this many (the newest).
CALLS_IN_PROGRESS_LIMIT = 50


def calls_in_progress(*, tenant: Tenant, now: datetime) -> list[Call]:
    """The tenant's active calls (``CallQuerySet.active``), newest first, with their agents."""
    return list(
        Call.objects.filter(tenant=tenant)
        .active(at=now)
        .select_related("agent")
        .only("call_id", "status", "start_time", "agent__name", "agent__model_id")
        .order_by("-start_time", "-id")[:CALLS_IN_PROGRESS_LIMIT]
    )
