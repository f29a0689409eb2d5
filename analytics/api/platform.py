"""Voice-platform analytics: ``GET /api/v1/analytics/{summary,call-volume,workflow-stats,
provider-latency,errors,active-calls}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.base import AnalyticsView, answer_schema
from analytics.api.params import (
    CallVolumeParams,
    ErrorLogParams,
    PlatformParams,
    WorkflowStatsParams,
)
from analytics.api.schemas import META_HEADERS, PLATFORM_ERRORS
from analytics.queries import platform as queries

WINDOW_NOTE = (
    " Over calls started in the window: `period` (1h, 24h, 7d, 30d; default 24h) ending now, or "
    "`started_after`/`started_before`."
)


def platform_schema(operation_id: str, summary: str, params: Any, result_type: Any) -> Any:
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=summary + "." + WINDOW_NOTE,
        parameters=[params, *META_HEADERS],
        responses={200: answer_schema(result_type), **PLATFORM_ERRORS},
        tags=["analytics (voice platform)"],
    )


class PlatformView(AnalyticsView):
    error_family = "platform"
    params_class = PlatformParams


# ``cache_max_age`` of each endpoint is the refresh rate the voice-platform API recommends
# for dashboards polling it.


class SummaryView(PlatformView):
    cache_max_age = 30
    counts_active = True

    @platform_schema(
        "analytics_summary", "Aggregated analytics", PlatformParams, queries.PlatformSummary
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.platform_summary(
            tenant=self.tenant, window=p["window"], zone=p["zone"], now=now
        )
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)


class CallVolumeView(PlatformView):
    params_class = CallVolumeParams
    cache_max_age = 60

    @platform_schema(
        "analytics_call_volume",
        "Calls per local hour, day or week, every bucket present",
        CallVolumeParams,
        queries.PlatformCallVolume,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.call_volume(
            tenant=self.tenant, window=p["window"], zone=p["zone"], interval=p["interval"]
        )
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)


class WorkflowStatsView(PlatformView):
    params_class = WorkflowStatsParams
    cache_max_age = 60

    @platform_schema(
        "analytics_workflow_stats",
        "Call statistics per workflow, most calls first",
        WorkflowStatsParams,
        list[queries.PlatformWorkflowStat],
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.workflow_stats(
            tenant=self.tenant, window=p["window"], zone=p["zone"], limit=p["limit"]
        )
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)


class ProviderLatencyView(PlatformView):
    cache_max_age = 60

    @platform_schema(
        "analytics_provider_latency",
        "Latency per provider type and name (mean, exact p50/p95/p99)",
        PlatformParams,
        list[queries.PlatformProviderLatency],
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.provider_latency(tenant=self.tenant, window=p["window"], zone=p["zone"])
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)


class ErrorLogView(PlatformView):
    params_class = ErrorLogParams
    cache_max_age = 30
    clock_sources = ("errors",)

    @platform_schema(
        "analytics_errors",
        "Error logs timestamped in the window, newest first",
        ErrorLogParams,
        queries.PlatformErrorLogPage,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.error_logs(
            tenant=self.tenant,
            window=p["window"],
            service=p.get("service"),
            level=p.get("level"),
            offset=p["offset"],
            limit=p["limit"],
        )
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)


class ActiveCallsView(PlatformView):
    cache_max_age = 10
    counts_active = True

    @platform_schema(
        "analytics_active_calls",
        "Calls active now (live status, started less than the stale limit ago)",
        PlatformParams,
        queries.PlatformActiveCalls,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        count = queries.active_call_count(tenant=self.tenant, window=p["window"], now=now)
        return self.respond(
            queries.PlatformActiveCalls(count=count), zone=p["zone"], window=p["window"], now=now
        )
