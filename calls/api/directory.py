"""``GET /api/v1/agents`` and ``GET /api/v1/workflows``: the ids the call filters take, with
each one's call count and last call time (read by ``calls.directory``)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from calls import directory
from calls.api.native import DEFAULT_PAGE_SIZE, MAX_CURSOR_LENGTH, MAX_PAGE_SIZE
from calls.api.schema import READ_ERROR_CODES, platform_errors
from calls.api.serializers import (
    AgentListItemSerializer,
    AgentPageSerializer,
    WorkflowListItemSerializer,
    WorkflowPageSerializer,
)
from config.api.errors import InvalidRequest, flatten_detail
from config.api.mixins import TenantAPIView

MAX_SEARCH_LENGTH = 200


class DirectoryParams(serializers.Serializer):
    """The query string of both lists; any other parameter is a 400."""

    limit = serializers.IntegerField(
        default=DEFAULT_PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE
    )
    cursor = serializers.CharField(required=False, max_length=MAX_CURSOR_LENGTH)
    # Blank is no filter, as a blank filter of the call list is.
    search = serializers.CharField(required=False, allow_blank=True, max_length=MAX_SEARCH_LENGTH)

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            names = ", ".join(repr(name[:60]) for name in unknown[:10])
            raise serializers.ValidationError(
                {"non_field_errors": [f"Unknown query parameter(s): {names}."]}
            )
        return super().to_internal_value(data)

    def validate_search(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("must not contain NUL characters.")
        return value


def directory_parameters(noun: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "search",
            {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": r"^[^\x00]*$"},
            OpenApiParameter.QUERY,
            description=f"Only {noun} whose name starts with this (case-insensitive).",
        ),
        OpenApiParameter(
            "limit",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
            },
            OpenApiParameter.QUERY,
            description=f"{noun.capitalize()} per page (1 to {MAX_PAGE_SIZE}, default "
            f"{DEFAULT_PAGE_SIZE}).",
        ),
        OpenApiParameter(
            "cursor",
            {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
            OpenApiParameter.QUERY,
            description="Opaque position from a previous page's `next` or `previous` link.",
        ),
    ]


class DirectoryView(TenantAPIView):
    """One of the two lists. No ``ETag``: a name edited in the admin changes an answer without
    moving the tenant's write generation, so a tag could vouch for a stale name."""

    kind: ClassVar[directory.DirectoryKind[Any]]
    item_serializer: ClassVar[type[serializers.Serializer]]

    def list_response(self, request: Request) -> Response:
        repeated = sorted(
            name for name in request.query_params if len(request.query_params.getlist(name)) > 1
        )
        if repeated:
            names = ", ".join(repr(name[:60]) for name in repeated[:10])
            raise InvalidRequest(f"Query parameter(s) given more than once: {names}.")
        params = DirectoryParams(data=request.query_params.dict())
        if not params.is_valid():
            raise InvalidRequest(f"Invalid query parameter(s): {flatten_detail(params.errors)}")
        tenant_id = self.tenant.pk
        cursor = None
        if token := params.validated_data.get("cursor"):
            try:
                cursor = directory.DirectoryCursor.parse(token, kind=self.kind, tenant_id=tenant_id)
            except directory.DirectoryCursorError as exc:
                raise InvalidRequest(
                    f"Invalid query parameter(s): cursor: {exc}",
                    [{"field": "cursor", "message": str(exc)}],
                ) from None
        page = directory.directory_page(
            self.kind,
            tenant_id=tenant_id,
            search=params.validated_data.get("search", ""),
            limit=params.validated_data["limit"],
            cursor=cursor,
        )
        url = request.build_absolute_uri()

        def link(position: directory.DirectoryCursor | None) -> str | None:
            if position is None:
                return None
            return replace_query_param(
                url, "cursor", position.token(kind=self.kind, tenant_id=tenant_id)
            )

        return Response(
            {
                "next": link(page.next_cursor),
                "previous": link(page.previous_cursor),
                "results": self.item_serializer(page.entries, many=True).data,
            }
        )


FIGURES_HELP = (
    " Each carries its number of calls and when its latest call started: exact and current, "
    "counted for the page's entries only."
)
PAGING_HELP = (
    " Ordered by name, paginated by cursor: follow `next` until it is null. Unknown or "
    "malformed parameters are a 400 naming them."
)


class AgentListView(DirectoryView):
    kind = directory.AGENTS
    item_serializer = AgentListItemSerializer

    @extend_schema(
        operation_id="agents_list",
        summary="List agents",
        description=(
            "The agents of the key's tenant, with the `model_id` the calls' `agent` filter "
            "takes." + FIGURES_HELP + PAGING_HELP
        ),
        parameters=directory_parameters("agents"),
        responses={200: AgentPageSerializer, **platform_errors(*READ_ERROR_CODES)},
        tags=["calls"],
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)


class WorkflowListView(DirectoryView):
    kind = directory.WORKFLOWS
    item_serializer = WorkflowListItemSerializer

    @extend_schema(
        operation_id="workflows_list",
        summary="List workflows",
        description=(
            "The workflows of the key's tenant, with the `slug` the calls' `workflow` filter "
            "takes." + FIGURES_HELP + PAGING_HELP
        ),
        parameters=directory_parameters("workflows"),
        responses={200: WorkflowPageSerializer, **platform_errors(*READ_ERROR_CODES)},
        tags=["calls"],
    )
    def get(self, request: Request) -> Response:
        return self.list_response(request)
