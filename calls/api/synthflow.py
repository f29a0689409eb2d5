"""Synthflow-compatible call reads: ``GET /v2/calls`` and ``GET /v2/calls/{call_id}``.

A script written against Synthflow's API works by changing only its base URL and key: the same
parameters, envelope, field set and error body (``config.api.errors``, family ``synthflow``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from calls import counts, queries
from calls.api.filters import SynthflowCallFilterSet, apply_filters, page_parameters
from calls.api.native import CallReadView
from calls.api.schema import READ_ERROR_CODES, filterset_parameters, synthflow_errors
from calls.api.serializers import (
    SynthflowGetCallSerializer,
    SynthflowListCallSerializer,
    synthflow_envelope,
)
from calls.documents import INT32_MAX
from config.api.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Names the filters of ``SynthflowCallFilterSet`` in the keys of cached totals.
COUNT_SCOPE = "v2-calls"


class SynthflowPageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(default=DEFAULT_LIMIT, min_value=1, max_value=MAX_LIMIT)
    offset = serializers.IntegerField(default=0, min_value=0, max_value=INT32_MAX)


class SynthflowView(CallReadView):
    """Base of the ``/v2`` views: tenant-scoped calls, Synthflow's error body."""

    error_family = "synthflow"


LIST_PARAMETERS = [
    *filterset_parameters(
        SynthflowCallFilterSet,
        {
            "model_id": "The calls of this agent (model). Required.",
            "from_date": "Calls started at or after this time, ms since the epoch.",
            "to_date": "Calls started before this time, ms since the epoch.",
            "call_status": "Only calls in this status.",
            "duration_min": "Calls lasting at least this many seconds.",
            "duration_max": "Calls lasting at most this many seconds.",
            "lead_phone_number": "E.164; URL-encode the leading + as %2B.",
        },
    ),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        OpenApiParameter.QUERY,
        description="Calls per page (1 to 100, default 20).",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": INT32_MAX, "default": 0},
        OpenApiParameter.QUERY,
        description="Index of the first call returned.",
    ),
]


class SynthflowCallListView(SynthflowView):
    """``GET /v2/calls``: the calls of one agent, newest first, offset-paginated."""

    filterset_class = SynthflowCallFilterSet

    @extend_schema(
        operation_id="synthflow_calls_list",
        summary="List calls (Synthflow-compatible)",
        description=(
            "The calls of the agent `model_id`, newest first (start time, then id). "
            "`total_records` counts every call matching the filters. An unknown `model_id` gives "
            "an empty list. Time windows are half-open: `from_date` ≤ start < `to_date`."
        ),
        parameters=LIST_PARAMETERS,
        responses={
            200: synthflow_envelope("SynthflowCallList", SynthflowListCallSerializer),
            **synthflow_errors(*READ_ERROR_CODES),
        },
        tags=["synthflow"],
    )
    def get(self, request: Request) -> Response:
        filterset, calls = apply_filters(self.filterset_class, request, self.get_queryset())
        paging = page_parameters(SynthflowPageSerializer, request.query_params)
        limit, offset = paging["limit"], paging["offset"]
        # The same total for every page of a filter, until the tenant's calls change.
        total = counts.filtered_total(
            calls,
            tenant_id=self.tenant.pk,
            scope=COUNT_SCOPE,
            filters=filterset.cleaned_filters(),
        )
        total, page = queries.offset_page(calls, limit=limit, offset=offset, total=total)
        return Response(
            {
                "status": "ok",
                "response": {
                    "pagination": {"total_records": total, "limit": limit, "offset": offset},
                    "calls": SynthflowListCallSerializer(page, many=True).data,
                },
            }
        )


class SynthflowCallDetailView(SynthflowView):
    """``GET /v2/calls/{call_id}``: one call, in Synthflow's list envelope."""

    @extend_schema(
        operation_id="synthflow_calls_retrieve",
        summary="Get a call (Synthflow-compatible)",
        description="One call with its transcript, variables and actions. Takes no parameters.",
        parameters=[OpenApiParameter("call_id", str, OpenApiParameter.PATH)],
        responses={
            200: synthflow_envelope("SynthflowCallDetail", SynthflowGetCallSerializer),
            **synthflow_errors(*READ_ERROR_CODES, 404),
        },
        tags=["synthflow"],
    )
    def get(self, request: Request, call_id: str) -> Response:
        if request.query_params:
            names = ", ".join(repr(n[:60]) for n in sorted(request.query_params)[:10])
            raise InvalidRequest(f"Unknown query parameter(s): {names}.")
        call = queries.synthflow_call(queryset=self.get_queryset(), call_id=call_id)
        if call is None:
            raise exceptions.NotFound("Call not found.")
        return Response(
            {
                "status": "ok",
                "response": {
                    "pagination": {"total_records": 1, "limit": DEFAULT_LIMIT, "offset": 0},
                    "calls": [SynthflowGetCallSerializer(call).data],
                },
            }
        )
