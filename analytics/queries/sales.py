"""The sales family: ``GET /api/v1/analytics/{overview,funnel,activity}``, over tenant-local
whole days (``startDate`` .. ``endDate``, both included)."""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from analytics.definitions import decimal_change, mean, ratio
from analytics.facts import (
    NO_CALL_FILTERS,
    NO_LEAD_FILTERS,
    CallFilters,
    CallTotals,
    FactScope,
    LeadFilters,
    LeadTotals,
    call_facts,
    event_facts,
    events_in,
    lead_facts,
    sum_totals,
)
from analytics.windows import (
    Comparison,
    DateSpan,
    Granularity,
    Window,
    comparison_span,
    date_range,
    iso_utc_ms,
    sales_buckets,
)
from calls.enums import CallStatus
from calls.models import Tenant

# --- Result shapes (field names are the wire's) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SalesPeriod:
    startDate: date
    endDate: date


@dataclass(frozen=True, slots=True)
class SalesSummary:
    totalConversations: int
    totalLeads: int
    qualifiedLeads: int
    conversionRate: float | None
    avgLeadScore: float | None
    avgResponseTime: float | None
    avgMessagesPerConversation: float | None
    handoffRate: float | None
    totalRevenuePipeline: float


@dataclass(frozen=True, slots=True)
class SalesComparedCount:
    value: int
    change: float | None


@dataclass(frozen=True, slots=True)
class SalesComparedRate:
    value: float | None
    change: float | None


@dataclass(frozen=True, slots=True)
class SalesComparison:
    period: SalesPeriod
    totalConversations: SalesComparedCount
    totalLeads: SalesComparedCount
    qualifiedLeads: SalesComparedCount
    conversionRate: SalesComparedRate


@dataclass(frozen=True, slots=True)
class SalesPoint:
    period: str = field(metadata={"help": "YYYY-MM-DD for days, first/last for weeks and months."})
    conversations: int
    leads: int
    qualifiedLeads: int
    conversionRate: float | None


@dataclass(frozen=True, slots=True)
class SalesOverview:
    period: SalesPeriod
    summary: SalesSummary
    comparison: SalesComparison | None
    timeSeries: list[SalesPoint]


@dataclass(frozen=True, slots=True)
class SalesFunnelStage:
    name: str
    count: int
    conversionToNext: float | None


@dataclass(frozen=True, slots=True)
class SalesFunnel:
    period: SalesPeriod
    stages: list[SalesFunnelStage]
    overallConversion: float | None
    topDropoffStage: str | None


@dataclass(frozen=True, slots=True)
class SalesActivityEvent:
    id: str
    type: str
    leadId: str | None
    conversationId: str | None
    description: str
    metadata: dict[str, Any]
    occurredAt: str = field(metadata={"format": "date-time"})


@dataclass(frozen=True, slots=True)
class SalesPagination:
    page: int
    limit: int
    total: int
    totalPages: int
    hasMore: bool


@dataclass(frozen=True, slots=True)
class SalesActivityFeed:
    data: list[SalesActivityEvent]
    pagination: SalesPagination


def _period(span: DateSpan) -> SalesPeriod:
    return SalesPeriod(startDate=span.first, endDate=span.last)


# --- Queries -----------------------------------------------------------------------------------


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
        """qualifiedLeads / totalConversations."""
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
) -> SalesOverview:
    """``/api/v1/analytics/overview``: summary, time series and optional comparison."""
    facts = _sales_facts(tenant=tenant, window=span.window(zone), zone=zone)
    total = facts.totals()
    conversations = total.conversations
    summary = SalesSummary(
        totalConversations=conversations.calls,
        totalLeads=total.leads.created,
        qualifiedLeads=total.leads.qualified,
        conversionRate=total.conversion_rate,
        avgLeadScore=mean(total.leads.score_sum, total.leads.score_count),
        avgResponseTime=_seconds(
            mean(conversations.response_time_sum, conversations.response_time_count)
        ),
        avgMessagesPerConversation=ratio(conversations.turns, conversations.calls),
        handoffRate=ratio(conversations.handoffs, conversations.calls),
        totalRevenuePipeline=_money(total.leads.pipeline),
    )
    time_series = []
    buckets = sales_buckets(span, granularity)
    for (label, _, _), bucket in zip(
        buckets, facts.bucket_totals([(a, b) for _, a, b in buckets]), strict=True
    ):
        time_series.append(
            SalesPoint(
                period=label,
                conversations=bucket.conversations.calls,
                leads=bucket.leads.created,
                qualifiedLeads=bucket.leads.qualified,
                conversionRate=bucket.conversion_rate,
            )
        )
    comparison = None
    if compare_with is not None:
        other = comparison_span(span, compare_with)
        before = _sales_facts(
            tenant=tenant, window=other.window(zone), zone=zone, per_day=False
        ).totals()

        def count(current: int, previous: int) -> SalesComparedCount:
            return SalesComparedCount(value=previous, change=decimal_change(current, previous))

        def rate(current: float | None, previous: float | None) -> SalesComparedRate:
            return SalesComparedRate(value=previous, change=decimal_change(current, previous))

        comparison = SalesComparison(
            period=_period(other),
            totalConversations=count(conversations.calls, before.conversations.calls),
            totalLeads=count(total.leads.created, before.leads.created),
            qualifiedLeads=count(total.leads.qualified, before.leads.qualified),
            conversionRate=rate(total.conversion_rate, before.conversion_rate),
        )
    return SalesOverview(
        period=_period(span),
        summary=summary,
        comparison=comparison,
        timeSeries=time_series,
    )


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
) -> SalesFunnel:
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
        SalesFunnelStage(
            name=name,
            count=count,
            conversionToNext=ratio(counts[i + 1], count) if i + 1 < len(counts) else None,
        )
        for i, (name, count) in enumerate(zip(FUNNEL_STAGES, counts, strict=True))
    ]
    drops = [(counts[i] - counts[i + 1], i) for i in range(len(counts) - 1)]
    # The step losing the most entries; the earliest on a tie; none when no step loses any.
    loss, step = max(drops, key=lambda d: (d[0], -d[1]))
    return SalesFunnel(
        period=_period(span),
        stages=stages,
        overallConversion=ratio(counts[-1], counts[0]),
        topDropoffStage=(
            f"{FUNNEL_STAGES[step]} -> {FUNNEL_STAGES[step + 1]}" if loss > 0 else None
        ),
    )


def activity_feed(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    types: Sequence[str],
    lead_id: str | None,
    page: int,
    limit: int,
) -> SalesActivityFeed:
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
    return SalesActivityFeed(
        data=[
            SalesActivityEvent(
                id=event.event_id,
                type=event.type,
                leadId=event.lead.lead_id if event.lead else None,
                conversationId=event.call.call_id if event.call else None,
                description=event.description,
                metadata=event.metadata,
                occurredAt=iso_utc_ms(event.occurred_at),
            )
            for event in rows
        ],
        pagination=SalesPagination(
            page=page,
            limit=limit,
            total=total,
            totalPages=total_pages,
            hasMore=page < total_pages,
        ),
    )
