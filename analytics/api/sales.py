"""Sales analytics: ``GET /api/v1/analytics/{overview,funnel,activity}``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.base import AnalyticsView, answer_schema
from analytics.api.params import ActivityParams, FunnelParams, OverviewParams
from analytics.api.schemas import META_HEADERS, SALES_ERRORS
from analytics.queries import sales as queries
from calls.enums import ActivityType

TAGS = ["analytics (sales)"]
DATES_NOTE = " startDate/endDate are tenant-local days (endDate included; at most 365 days apart)."


# ``type`` is one string on the wire, read as a comma-separated list (``validate_type``).
ACTIVITY_TYPES = OpenApiParameter(
    "type",
    {
        "type": "array",
        "items": {"type": "string", "enum": list(ActivityType.values)},
        "minItems": 1,
    },
    OpenApiParameter.QUERY,
    explode=False,
    description="Only these event types (comma-separated).",
)


class SalesView(AnalyticsView):
    error_family = "sales"
    cache_max_age = 60


class OverviewView(SalesView):
    params_class = OverviewParams

    @extend_schema(
        operation_id="analytics_overview",
        summary="Sales summary, time series and comparison",
        description="Summary metrics per the chosen granularity." + DATES_NOTE,
        parameters=[OverviewParams, *META_HEADERS],
        responses={200: answer_schema(queries.SalesOverview), **SALES_ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.sales_overview(
            tenant=self.tenant,
            span=p["span"],
            zone=p["zone"],
            granularity=p["granularity"],
            compare_with=p.get("compareWith"),
        )
        return self.respond(body, zone=p["zone"], window=p["span"].window(p["zone"]), now=now)


class FunnelView(SalesView):
    params_class = FunnelParams

    @extend_schema(
        operation_id="analytics_funnel",
        summary="Conversion funnel",
        description="Visitors → Engaged → Lead Captured → Qualified → Demo Booked → Converted."
        + DATES_NOTE,
        parameters=[FunnelParams, *META_HEADERS],
        responses={200: answer_schema(queries.SalesFunnel), **SALES_ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.sales_funnel(
            tenant=self.tenant,
            span=p["span"],
            zone=p["zone"],
            channel=p.get("channel"),
            source=p.get("source"),
        )
        return self.respond(body, zone=p["zone"], window=p["span"].window(p["zone"]), now=now)


class ActivityView(SalesView):
    params_class = ActivityParams
    # A feed, polled like the voice platform's error log.
    cache_max_age = 30
    clock_sources = ("events",)

    @extend_schema(
        operation_id="analytics_activity",
        summary="Activity feed",
        description="Events newest first (default: the last 24 hours)." + DATES_NOTE,
        parameters=[ActivityParams, ACTIVITY_TYPES, *META_HEADERS],
        responses={200: answer_schema(queries.SalesActivityFeed), **SALES_ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        p, now = self.params(request)
        body = queries.activity_feed(
            tenant=self.tenant,
            window=p["window"],
            zone=p["zone"],
            types=p["types"],
            lead_id=p["lead_id"],
            page=p["page"],
            limit=p["limit"],
        )
        return self.respond(body, zone=p["zone"], window=p["window"], now=now)
