"""Synthflow-style analytics export: ``GET /v2/analytics/``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.base import AnalyticsView, answer_schema
from analytics.api.params import SynthflowAnalyticsParams
from analytics.api.schemas import META_HEADERS, SYNTHFLOW_ERRORS
from analytics.queries import synthflow as queries


class SynthflowAnalyticsView(AnalyticsView):
    error_family = "synthflow"
    params_class = SynthflowAnalyticsParams
    cache_max_age = 60
    # The changes compare with the window of equal length before.
    compares_previous = True

    @extend_schema(
        operation_id="synthflow_analytics_export",
        summary="Export analytics data",
        description=(
            "The seven Synthflow analytics blocks over [from_date, to_date) (default: the last 7 "
            "days; at most 120 days). Changes compare with the previous window of equal length; "
            "series have one item per local day of the window."
        ),
        parameters=[SynthflowAnalyticsParams, *META_HEADERS],
        responses={200: answer_schema(queries.SynthflowAnalytics), **SYNTHFLOW_ERRORS},
        tags=["analytics (synthflow)"],
    )
    def get(self, request: Request) -> Response:
        params, now = self.params(request)
        body = queries.synthflow_analytics(
            tenant=self.tenant,
            window=params["window"],
            zone=params["zone"],
            filters=params["filters"],
        )
        return self.respond(body, zone=params["zone"], window=params["window"], now=now)
