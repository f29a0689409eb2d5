"""Native call reads: the cursor-paginated list (``GET /api/v1/calls``, served by
``CallCollectionView`` next to ingestion), one whole call, and the CSV export."""

from __future__ import annotations

import zoneinfo
from typing import ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from calls import queries
from calls.api import export
from calls.api.filters import (
    MAX_LIST_VALUES,
    MAX_VARIABLE_FILTERS,
    MAX_VARIABLE_VALUES,
    CallExportFilterSet,
    CallListFilterSet,
    apply_filters,
    page_parameters,
)
from calls.api.schema import READ_ERROR_CODES, filterset_parameters, platform_errors
from calls.api.serializers import CallDetailSerializer, CallListItemSerializer, CallPageSerializer
from calls.models import Call
from config.api.conditional import ConditionalReadMixin
from config.api.errors import InvalidRequest
from config.api.mixins import TenantScopedMixin

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# A signed cursor on the longest (100-character, non-ASCII) call_id stays well below this.
MAX_CURSOR_LENGTH = 1000

ORDERING_HELP = (
    "Sort order: start_time, end_time or duration, '-' for descending (default -start_time). "
    "Ties are broken by id; calls without the value sort as the smallest."
)
FILTER_HELP = {
    "agent": "Agent model ids, as `GET /api/v1/agents` lists them; an agent's name instead of "
    "its model id is a 400 that gives the id.",
    "workflow": "Workflow slugs, as `GET /api/v1/workflows` lists them; a workflow's name "
    "instead of its slug is a 400 that gives the slug.",
    "status": "Call statuses.",
    "type": "Call types.",
    "channel": "Channels.",
    "sentiment": "Sentiments.",
    "success": "Successful calls (as the document said, else derived from status and end "
    "reason) or the others.",
    "end_reason": "End call reasons.",
    "label": "Calls carrying any of these labels.",
    "started_after": "Calls started at or after (ISO 8601; no offset means UTC).",
    "started_before": "Calls started before (ISO 8601; no offset means UTC).",
    "duration_min": "Calls lasting at least this many seconds.",
    "duration_max": "Calls lasting at most this many seconds.",
    "cost_min": "Calls costing at least this many US dollars (plain decimal, e.g. 0.25); calls "
    "without a cost are left out.",
    "cost_max": "Calls costing at most this many US dollars (plain decimal); calls without a "
    "cost are left out.",
    "platform": "Platforms the calls came from.",
    "lead_phone": "The lead's phone number (E.164; URL-encode + as %2B).",
    "lead_id": "The lead's id.",
    "q": (
        'Search in transcripts: words, "quoted phrases", `a or b`, `-excluded`; every term must '
        "match some turn of the call (PostgreSQL: English full-text search with stemming; "
        "elsewhere: substrings). At most 8 terms."
    ),
    "ordering": ORDERING_HELP,
    "columns": "Columns, in order, from: " + ", ".join(export.COLUMNS) + ". "
    "Default: " + ", ".join(export.DEFAULT_COLUMNS) + ".",
    "timezone": "IANA time zone of the times (default the tenant's).",
}
VARIABLE_HELP = (
    " Collected variables filter as `var.<name>=<value>` (repeatable; matches the variable under "
    "any agent; the value matches the JSON string, or the number, boolean or null it spells)."
    f" At most {MAX_VARIABLE_FILTERS} variable names per request, each given at most "
    f"{MAX_VARIABLE_VALUES} times (every value must match); each list filter takes at most "
    f"{MAX_LIST_VALUES} values."
)


class _AllCalls:
    def get_queryset(self) -> QuerySet[Call]:
        return Call.objects.all()


class CallReadView(ConditionalReadMixin, TenantScopedMixin, _AllCalls, APIView):
    """Base of the call read views: ``get_queryset`` is the tenant's calls (scoped by
    ``TenantScopedMixin``). Parameters are read by FilterSets, not request serializers, so the
    views are plain ``APIView``s.

    Their answers depend on the rows and the request alone (windows are given, never "now"),
    so an ``ETag`` holds until the tenant's next write; a call's status changes within
    seconds while it is live, hence the short ``max-age``."""

    error_family = "platform"
    cache_max_age: ClassVar[int | None] = 10
    clock_independent = True


class NativeCallView(CallReadView):
    """Base of the native call views: ``{"detail"}`` errors."""


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        default=DEFAULT_PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE
    )
    cursor = serializers.CharField(required=False, max_length=MAX_CURSOR_LENGTH)


LIST_PARAMETERS = [
    *filterset_parameters(CallListFilterSet, FILTER_HELP),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        OpenApiParameter.QUERY,
        description=f"Calls per page (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}).",
    ),
    OpenApiParameter(
        "cursor",
        {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
        OpenApiParameter.QUERY,
        description="Opaque position from a previous page's `next` or `previous` link.",
    ),
]

LIST_SCHEMA = extend_schema(
    operation_id="calls_list",
    summary="List calls",
    description=(
        "Calls of the key's tenant, newest first unless `ordering` says otherwise, paginated by "
        "cursor: follow `next` until it is null. Pages are stable under inserts (a cursor is a "
        "position, not a count). Unknown or malformed parameters are a 400 naming them."
        + VARIABLE_HELP
        + " With `q`, a page checks a bounded number of calls when a term is common, so it may "
        "hold fewer than `limit` calls, or none, while `next` is still set: keep following "
        "`next` until it is null."
    ),
    parameters=LIST_PARAMETERS,
    responses={200: CallPageSerializer, **platform_errors(*READ_ERROR_CODES)},
    tags=["calls"],
)


def call_list_response(view: NativeCallView, request: Request) -> Response:
    """The native list for ``view`` (``CallCollectionView.get``)."""
    tenant_id = view.tenant.pk
    filterset, calls = apply_filters(
        CallListFilterSet, request, view.get_queryset(), tenant_id=tenant_id
    )
    ordering = filterset.get_ordering()
    page_params = page_parameters(PageSerializer, request.query_params)
    cursor = None
    try:
        if token := page_params.get("cursor"):
            cursor = queries.Cursor.parse(token, ordering=ordering, tenant_id=tenant_id)
        page = queries.keyset_page(
            queries.with_list_children(calls),
            ordering=ordering,
            limit=page_params["limit"],
            cursor=cursor,
            search=filterset.search(),
            calls=view.get_queryset(),
        )
    except queries.CursorError as exc:
        raise InvalidRequest(
            f"Invalid query parameter(s): cursor: {exc}",
            [{"field": "cursor", "message": str(exc)}],
        ) from None
    url = request.build_absolute_uri()

    def link(position: queries.Cursor | None) -> str | None:
        if position is None:
            return None
        return replace_query_param(url, "cursor", position.token(tenant_id=tenant_id))

    return Response(
        {
            "next": link(page.next_cursor),
            "previous": link(page.previous_cursor),
            "results": CallListItemSerializer(page.items, many=True).data,
        }
    )


class CallDetailView(NativeCallView):
    """``GET /api/v1/calls/{call_id}``: one whole call."""

    @extend_schema(
        operation_id="calls_retrieve",
        summary="Get a call",
        description=(
            "The whole call: columns, transcript turns (roles and offsets), collected variables, "
            "executed actions with their payloads, latency samples, errors, lead, agent and "
            "workflow. Takes no parameters."
        ),
        parameters=[OpenApiParameter("call_id", str, OpenApiParameter.PATH)],
        responses={200: CallDetailSerializer, **platform_errors(*READ_ERROR_CODES, 404)},
        tags=["calls"],
    )
    def get(self, request: Request, call_id: str) -> Response:
        if request.query_params:
            names = ", ".join(repr(n[:60]) for n in sorted(request.query_params)[:10])
            raise InvalidRequest(f"Unknown query parameter(s): {names}.")
        call = queries.call_detail(queryset=self.get_queryset(), call_id=call_id)
        if call is None:
            raise exceptions.NotFound("Call not found.")
        return Response(CallDetailSerializer(call).data)


class CallExportView(NativeCallView):
    """``GET /api/v1/calls/export.csv``: every call matching the list's filters, as CSV."""

    filterset_class = CallExportFilterSet
    # Streamed as it is read: no tag vouches for it.
    cache_max_age = None

    @extend_schema(
        operation_id="calls_export",
        summary="Export calls as CSV",
        description=(
            "Every call matching the filters (the list's, without pagination), streamed as CSV "
            "with a header row. Times are ISO 8601 in the tenant's time zone unless `timezone` "
            "says otherwise." + VARIABLE_HELP
        ),
        parameters=filterset_parameters(CallExportFilterSet, FILTER_HELP),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, UTF-8"),
            **platform_errors(*READ_ERROR_CODES, media_type="application/json"),
        },
        tags=["calls"],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filterset, calls = apply_filters(
            self.filterset_class, request, self.get_queryset(), tenant_id=self.tenant.pk
        )
        cleaned = filterset.form.cleaned_data
        columns = cleaned.get("columns") or list(export.DEFAULT_COLUMNS)
        zone = zoneinfo.ZoneInfo(cleaned.get("timezone") or self.tenant.timezone)
        chunks = export.export_chunks(
            calls,
            columns=columns,
            ordering=filterset.get_ordering(),
            zone=zone,
            chunk_size=export.EXPORT_CHUNK_SIZE,
            search=filterset.search(),
        )
        return export.csv_response(chunks, zone=zone)
