"""``POST /api/v1/live/tickets``: a single-use ticket a browser opens a stream with."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from calls.api.schema import platform_errors
from calls.models import ApiKey
from config.api.errors import InvalidRequest
from config.api.mixins import TenantAPIView
from config.live.auth import issue_ticket, principal_of_key


class LiveTicketView(TenantAPIView):
    """Issues a ticket for the key's tenant. The key is re-checked by every open connection, so
    revoking it also ends the streams opened with its tickets.

    A POST that writes nothing but opens read streams: it needs the key's ``read`` permission."""

    api_key_permission = "read"

    @extend_schema(
        operation_id="live_ticket_create",
        summary="Create a WebSocket ticket",
        description=(
            "A single-use ticket, valid for a few seconds, that opens one WebSocket stream "
            "(`/ws/v1/…?ticket=…`) for the key's tenant; for browsers, which cannot send an "
            "Authorization header on a WebSocket handshake. Takes no body."
        ),
        request=None,
        responses={
            201: inline_serializer(
                "LiveTicket",
                {
                    "ticket": serializers.CharField(),
                    "expires_in": serializers.IntegerField(help_text="seconds"),
                },
            ),
            **platform_errors(400, 401, 403, 413),
        },
        tags=["live"],
    )
    def post(self, request: Request) -> Response:
        if request.query_params:
            raise InvalidRequest("This endpoint takes no query parameters.")
        key = request.auth
        if not isinstance(key, ApiKey):  # the permission class lets only keys through
            raise exceptions.NotAuthenticated()
        ticket = issue_ticket(principal_of_key(key))
        return Response(
            {"ticket": ticket, "expires_in": settings.LIVE_TICKET_TTL_SECONDS},
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )
