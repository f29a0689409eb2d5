"""The voice-platform family: ``GET /api/v1/analytics/{summary,call-volume,workflow-stats,
provider-latency,errors,active-calls}``, over calls started in a window."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, QuerySet

from analytics.definitions import PERCENTILES, mean, percent
from analytics.facts import (
    VOLUME_MEASURES,
    CallTotals,
    FactScope,
    LatencyTotals,
    call_facts,
    call_hour_facts,
    error_count,
    latency_facts,
    latency_summary,
    sum_totals,
)
from analytics.queries import folds
from analytics.windows import (
    Interval,
    Window,
    day_start,
    hour_starts,
    iso_local,
    iso_utc,
    local_days,
    week_start,
)
from calls.enums import ProviderType
from calls.models import Call, ErrorLog, Tenant, Workflow, stale_after, started_live_after
from config.statements import aggregate_statement, compiled, run

PROVIDER_ORDER = {value: index for index, value in enumerate(ProviderType.values)}

# --- Result shapes (field names are the wire's) ------------------------------------------------

# This API's ``success_rate`` is a completion rate; the Synthflow family's and the admin
# dashboard's success rate count successful calls. The field keeps its public name, and its
# description says which ratio it is.
COMPLETION_RATE_HELP = (
    "Completed calls / calls (completion rate), in percent. Named success_rate by this API; "
    "not the success rate of /v2/analytics/ and the admin dashboard (successful calls / calls)."
)


@dataclass(frozen=True, slots=True)
class PlatformSummary:
    total_calls: int
    completed_calls: int
    failed_calls: int
    active_calls: int
    avg_duration_seconds: float | None
    success_rate: float | None = field(
        metadata={"help": COMPLETION_RATE_HELP + " Null without calls."}
    )
    total_tokens: int
    avg_stt_latency_ms: float | None
    avg_llm_latency_ms: float | None
    avg_tts_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class PlatformVolumePoint:
    timestamp: str = field(
        metadata={"format": "date-time", "help": "Local start of the bucket, with its UTC offset."}
    )
    total: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class PlatformCallVolume:
    interval: Interval
    data: list[PlatformVolumePoint]


@dataclass(frozen=True, slots=True)
class PlatformWorkflowStat:
    workflow_id: str
    workflow_name: str
    workflow_slug: str
    total_calls: int
    completed_calls: int
    failed_calls: int
    success_rate: float = field(metadata={"help": COMPLETION_RATE_HELP + " 0 without calls."})
    avg_duration_seconds: float | None


@dataclass(frozen=True, slots=True)
class PlatformProviderLatency:
    provider_type: str
    provider_name: str
    avg_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    call_count: int


@dataclass(frozen=True, slots=True)
class PlatformErrorLog:
    id: str
    call_id: str | None
    timestamp: str = field(metadata={"format": "date-time"})
    service: str
    level: str
    message: str
    details: dict[str, Any]
    agent: str


@dataclass(frozen=True, slots=True)
class PlatformErrorLogPage:
    items: list[PlatformErrorLog]
    total: int


@dataclass(frozen=True, slots=True)
class PlatformActiveCalls:
    count: int


# --- Queries -----------------------------------------------------------------------------------


def active_call_count(*, tenant: Tenant, window: Window, now: datetime) -> int:
    """Calls started in ``window`` that are active at ``now`` (``CallQuerySet.active``)."""

    def calls(values: Sequence[Any]) -> QuerySet[Call]:
        tenant_id, start, end, since = values
        return Call.objects.filter(
            tenant_id=tenant_id, start_time__gte=start, start_time__lt=end
        ).filter(started_live_after(since))

    values = [tenant.pk, window.start, window.end, now - stale_after()]
    counted = compiled(
        "active_call_count", lambda v: aggregate_statement(calls(v), {"n": Count("pk")}), values
    )
    return int(run(counted)[0][0])


def platform_summary(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, now: datetime
) -> PlatformSummary:
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

    return PlatformSummary(
        total_calls=total.calls,
        completed_calls=total.completed,
        failed_calls=total.failed,
        active_calls=active_call_count(tenant=tenant, window=window, now=now),
        avg_duration_seconds=mean(total.duration_sum, total.duration_count),
        success_rate=percent(total.completed, total.calls),
        total_tokens=total.tokens_sum,
        avg_stt_latency_ms=avg_latency(ProviderType.STT),
        avg_llm_latency_ms=avg_latency(ProviderType.LLM),
        avg_tts_latency_ms=avg_latency(ProviderType.TTS),
    )


def call_volume(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, interval: Interval
) -> PlatformCallVolume:
    """``/api/v1/analytics/call-volume``: calls per local hour, day or week, every bucket of the
    window present (zeros included). A bucket's ``timestamp`` is its local start."""
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    buckets: list[tuple[datetime, CallTotals]]
    if interval == "hour":
        facts = call_hour_facts(scope=scope, measures=VOLUME_MEASURES)
        buckets = [(start, facts.get(start, CallTotals())) for start in hour_starts(window, zone)]
    else:
        daily = folds.per_day(call_facts(scope=scope))
        days = local_days(window, zone)
        if interval == "day":
            buckets = [(day_start(d, zone), daily.get(d, CallTotals())) for d in days]
        else:
            weekly: dict[date, CallTotals] = defaultdict(CallTotals)
            for d, totals in daily.items():
                weekly[week_start(d)].add(totals)
            mondays = sorted({week_start(d) for d in days})
            buckets = [(day_start(m, zone), weekly.get(m, CallTotals())) for m in mondays]
    return PlatformCallVolume(
        interval=interval,
        data=[
            PlatformVolumePoint(
                timestamp=iso_local(start, zone),
                total=totals.calls,
                completed=totals.completed,
                failed=totals.failed,
            )
            for start, totals in buckets
        ],
    )


def workflow_stats(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, limit: int
) -> list[PlatformWorkflowStat]:
    """``/api/v1/analytics/workflow-stats``: the ``limit`` workflows with the most calls."""
    scope = FactScope(tenant=tenant, window=window, zone=zone)
    per_workflow = folds.by(call_facts(scope=scope, by=("workflow",), per_day=False), 0)
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
        PlatformWorkflowStat(
            workflow_id=str(w.pk),
            workflow_name=w.name,
            workflow_slug=w.slug,
            total_calls=per_workflow[w.pk].calls,
            completed_calls=per_workflow[w.pk].completed,
            failed_calls=per_workflow[w.pk].failed,
            # Defined: a workflow is ranked only with calls.
            success_rate=percent(per_workflow[w.pk].completed, per_workflow[w.pk].calls) or 0.0,
            avg_duration_seconds=mean(
                per_workflow[w.pk].duration_sum, per_workflow[w.pk].duration_count
            ),
        )
        for w in ranked
    ]


def provider_latency(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo
) -> list[PlatformProviderLatency]:
    """``/api/v1/analytics/provider-latency``: per provider type and name, the mean and exact
    p50/p95/p99 of the latency samples of calls started in ``window``, and how many calls."""
    summary = latency_summary(
        scope=FactScope(tenant=tenant, window=window, zone=zone), fractions=PERCENTILES
    )
    rows = []
    for key in sorted(summary, key=lambda k: (PROVIDER_ORDER.get(k[0], 99), k[0], k[1])):
        totals, (p50, p95, p99) = summary[key]
        rows.append(
            PlatformProviderLatency(
                provider_type=key[0],
                provider_name=key[1],
                avg_latency_ms=totals.latency_sum / totals.samples,
                p50_latency_ms=p50,
                p95_latency_ms=p95,
                p99_latency_ms=p99,
                call_count=totals.calls,
            )
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
) -> PlatformErrorLogPage:
    """``/api/v1/analytics/errors``: error logs timestamped in ``window``, newest first. The
    page is read from raw rows, the total from error rollups where they can serve."""
    logs = ErrorLog.objects.filter(
        tenant=tenant, timestamp__gte=window.start, timestamp__lt=window.end
    )
    if service is not None:
        logs = logs.filter(service=service)
    if level is not None:
        logs = logs.filter(level=level)
    total = error_count(
        scope=FactScope(tenant=tenant, window=window, zone=tenant.zone),
        service=service,
        level=level,
    )
    page = (
        logs.select_related("call")
        .only(*ERROR_LOG_ITEM_FIELDS)
        .order_by("-timestamp", "-id")[offset : offset + limit]
    )
    return PlatformErrorLogPage(items=[error_log_item(log) for log in page], total=total)


# What ``error_log_item`` reads of an error log (with ``select_related("call")``).
ERROR_LOG_ITEM_FIELDS = (
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


def error_log_item(log: ErrorLog) -> PlatformErrorLog:
    """An error log as the errors endpoint lists it (``log.call`` read with it)."""
    return PlatformErrorLog(
        id=f"{log.call.call_id}-{log.position}" if log.call else f"error-{log.pk}",
        call_id=log.call.call_id if log.call else None,
        timestamp=iso_utc(log.timestamp),
        service=log.service,
        level=log.level,
        message=log.message,
        details=log.details,
        agent=log.agent_name,
    )
