"""``POST /api/v1/webhooks/<platform>/<token>``: the webhook receiver of every voice-agent
platform with a connection (``calls.platforms``; Synthflow has its own view).

The raw body is verified before anything reads it: the view never touches ``request.data``
(DRF's parsing), it hands the bytes, headers and URL to the platform module through
``calls.platform_ingest``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls.platform_connections import connection_for_token
from calls.platform_ingest import receive_delivery
from calls.platforms import PLATFORMS, Delivery, PayloadInvalid, SignatureInvalid
from calls.services import DocumentsInvalid
from config.api.errors import error_body
from config.api.schema import PlatformErrorSerializer

DELIVERY_RESULT = inline_serializer(
    "PlatformDeliveryResult",
    {
        "status": serializers.ChoiceField(
            ["created", "updated", "unchanged", "duplicate", "ignored"],
            help_text="What the delivery did: `duplicate` is a resend of a delivery already "
            "applied, `ignored` an event Callscope does not use; neither writes anything.",
        ),
        "event_type": serializers.CharField(),
        "call_id": serializers.CharField(),
    },
)


def _error(request: Request, code: int, message: str, **extra: Any) -> Response:
    return Response(error_body("platform", code, message, request, extra or None), status=code)


class PlatformWebhookView(APIView):
    """Authenticated by the URL token (the connection) and the platform's signature, not by an
    API key: the tenant is the connection's, never the payload's."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    # The raw body is read as bytes; no parser ever runs on it.
    parser_classes: list[Any] = []
    error_family = "platform"

    @extend_schema(
        operation_id="webhooks_platform",
        summary="Voice-agent platform webhook",
        description=(
            "Deliveries of a platform connection (Vapi, Retell, ElevenLabs, Bland, Twilio), "
            "verified with that platform's own signature scheme before anything is parsed. "
            "A bad, missing or stale signature is a 401 and writes nothing; a verified but "
            "malformed payload a 400 naming the field; an event Callscope does not use a 200 "
            "`ignored`; a resend of a delivery already applied (the platform's idempotency "
            "key) a 200 `duplicate`. An unknown platform or token is a 404."
        ),
        parameters=[
            OpenApiParameter(
                "platform",
                {"type": "string", "pattern": "^[a-z0-9_-]{1,16}$"},
                OpenApiParameter.PATH,
            ),
            OpenApiParameter("token", str, OpenApiParameter.PATH),
        ],
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
        responses={
            200: DELIVERY_RESULT,
            400: OpenApiResponse(PlatformErrorSerializer, description="Malformed payload"),
            401: OpenApiResponse(PlatformErrorSerializer, description="Bad or missing signature"),
            404: OpenApiResponse(PlatformErrorSerializer, description="Unknown webhook"),
            413: OpenApiResponse(PlatformErrorSerializer, description="Request body too large"),
        },
        tags=["ingestion"],
        auth=[],
    )
    def post(self, request: Request, platform: str, token: str) -> Response:
        now = timezone.now()
        # The token is looked up first whatever the platform segment says, so an unknown
        # platform and an unknown token take the same path and get the same answer.
        connection = connection_for_token(token=token)
        if connection is None or connection.platform != platform or platform not in PLATFORMS:
            return _error(request, 404, "Unknown webhook.")
        limit = settings.PLATFORM_WEBHOOK_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _error(request, 413, f"Request body exceeds {limit} bytes.")
        body = request.body
        if len(body) > limit:
            return _error(request, 413, f"Request body exceeds {limit} bytes.")
        delivery = Delivery(
            body=body,
            headers={name.lower(): value for name, value in request.headers.items()},
            url=request.build_absolute_uri(),
            content_type=request.content_type or "",
        )
        try:
            result = receive_delivery(connection=connection, delivery=delivery, now=now)
        except SignatureInvalid as exc:
            return _error(request, 401, f"Webhook signature refused: {exc}")
        except PayloadInvalid as exc:
            return _error(
                request,
                400,
                f"Invalid payload: {exc.field}: {exc.message}",
                errors=[{"field": exc.field, "message": exc.message}],
            )
        except DocumentsInvalid as exc:
            return _error(
                request,
                400,
                "The payload maps to an invalid call document; nothing was written.",
                errors=[{k: v for k, v in e.items() if k != "index"} for e in exc.errors],
            )
        return Response(
            {"status": result.outcome, "event_type": result.event_type, "call_id": result.call_id}
        )
