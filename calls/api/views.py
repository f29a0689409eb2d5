"""Native write endpoints: call ingestion, lead upsert and the Synthflow post-call webhook."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from pydantic import ValidationError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls.api.native import LIST_SCHEMA, NativeCallView, call_list_response
from calls.api.schema import INGEST_REQUEST_SCHEMA, LEAD_REQUEST_SCHEMA
from calls.documents import LeadIn, format_errors
from calls.leads import LeadPhoneTaken, lead_upsert
from calls.models import Tenant
from calls.services import DocumentsInvalid, ingest_call_documents
from calls.webhook_credentials import tenant_for_webhook_token
from calls.webhook_ingest import ingest_synthflow_delivery
from calls.webhooks import SIGNATURE_HEADER, signature_is_valid, webhook_call_id
from config.api.errors import InvalidRequest, error_body
from config.api.mixins import TenantAPIView
from config.api.schema import PlatformErrorSerializer

PLATFORM_ERROR = PlatformErrorSerializer
INGEST_RESULT = inline_serializer(
    "IngestResult",
    {
        "results": inline_serializer(
            "IngestOutcome",
            {
                "call_id": serializers.CharField(),
                "outcome": serializers.ChoiceField(["created", "updated", "unchanged"]),
            },
            many=True,
        ),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
    },
)
WEBHOOK_RESULT = inline_serializer(
    "WebhookResult",
    {
        "results": inline_serializer(
            "WebhookOutcome",
            {
                "call_id": serializers.CharField(),
                "outcome": serializers.ChoiceField(["created", "updated", "unchanged", "ignored"]),
            },
            many=True,
        ),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "ignored": serializers.IntegerField(),
    },
)
LEAD_RESULT = inline_serializer(
    "LeadResult",
    {
        "lead_id": serializers.CharField(),
        "status": serializers.CharField(),
        "score": serializers.IntegerField(allow_null=True),
        "created": serializers.BooleanField(),
    },
)
ERROR_RESPONSES = {
    400: OpenApiResponse(PLATFORM_ERROR, description="Invalid JSON or invalid documents"),
    401: OpenApiResponse(
        PLATFORM_ERROR, description="Missing, malformed, unknown, revoked or expired key"
    ),
    413: OpenApiResponse(PLATFORM_ERROR, description="Request body too large"),
}
# The writes authenticated by an API key can also refuse a key that may not write.
KEY_WRITE_ERROR_RESPONSES = {
    **ERROR_RESPONSES,
    403: OpenApiResponse(
        PLATFORM_ERROR, description="The API key's scope does not allow writing (a `read` key)"
    ),
}


def _documents_from_body(data: Any) -> list[Any]:
    if isinstance(data, dict) and "calls" in data and "call_id" not in data:
        documents = data["calls"]
        if not isinstance(documents, list):
            raise InvalidRequest("'calls' must be a list of call documents.")
        if not documents:
            raise InvalidRequest("'calls' must not be empty.")
        if len(documents) > settings.MAX_CALLS_PER_BATCH:
            raise InvalidRequest(
                f"A batch holds at most {settings.MAX_CALLS_PER_BATCH} calls, got {len(documents)}."
            )
        return documents
    if isinstance(data, dict):
        return [data]
    raise InvalidRequest('The body must be a call document or {"calls": [...]}.')


def _ingest(tenant: Tenant, documents: list[Any]) -> Response:
    try:
        outcomes = ingest_call_documents(tenant=tenant, documents=documents)
    except DocumentsInvalid as exc:
        raise InvalidRequest("Invalid call document(s); nothing was written.", exc.errors) from None
    results = [{"call_id": o.call_id, "outcome": o.outcome} for o in outcomes]
    counts = {
        name: sum(1 for o in outcomes if o.outcome == name)
        for name in ("created", "updated", "unchanged")
    }
    code = status.HTTP_201_CREATED if counts["created"] else status.HTTP_200_OK
    return Response({"results": results, **counts}, status=code)


class CallCollectionView(NativeCallView):
    """``/api/v1/calls``: GET lists calls (cursor-paginated, filtered), POST ingests call
    documents."""

    # A body JSONBodyParser refuses is reported by document index and field, like a document
    # that fails validation.
    json_documents_key = "calls"

    @LIST_SCHEMA
    def get(self, request: Request) -> Response:
        return call_list_response(self, request)

    @extend_schema(
        operation_id="calls_ingest",
        summary="Ingest calls",
        description=(
            'One call document or {"calls": [...]} (at most 1,000), upserted by call_id. '
            "A batch with any invalid document is rejected whole and nothing is written."
        ),
        request={"application/json": INGEST_REQUEST_SCHEMA},
        responses={200: INGEST_RESULT, 201: INGEST_RESULT, **KEY_WRITE_ERROR_RESPONSES},
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        return _ingest(self.tenant, _documents_from_body(request.data))


class LeadUpsertView(TenantAPIView):
    @extend_schema(
        operation_id="leads_upsert",
        summary="Create or update a lead",
        description="Matched by lead_id, else by phone_number. Status only moves forward.",
        request={"application/json": LEAD_REQUEST_SCHEMA},
        responses={200: LEAD_RESULT, 201: LEAD_RESULT, **KEY_WRITE_ERROR_RESPONSES},
        tags=["ingestion"],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidRequest("The body must be a lead object.")
        try:
            data = LeadIn.model_validate(request.data)
        except ValidationError as exc:
            raise InvalidRequest("Invalid lead.", format_errors(exc)) from None
        try:
            result = lead_upsert(tenant=self.tenant, data=data)
        except LeadPhoneTaken as exc:
            raise InvalidRequest(
                "Invalid lead.", [{"field": "phone_number", "message": str(exc)}]
            ) from None
        lead = result.lead
        return Response(
            {
                "lead_id": lead.lead_id,
                "status": lead.status,
                "score": lead.score,
                "created": result.created,
            },
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SynthflowWebhookView(APIView):
    """Synthflow's post-call webhook. Authenticated by the URL token and the signature, not by an
    API key: the tenant is the token's, and the signature proves the sender knows its secret."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    error_family = "platform"

    @extend_schema(
        operation_id="webhooks_synthflow",
        summary="Synthflow post-call webhook",
        description=(
            f"Verified with the {SIGNATURE_HEADER} header: base64(HMAC-SHA256(webhook secret, "
            "call_id)). The signature covers the call id only, so once a delivery has written a "
            "call, a later delivery of it is applied only when its status is later in the "
            "call's lifecycle. The same body again is `unchanged`; any other body is `ignored` "
            "(200, nothing stored changes)."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            200: WEBHOOK_RESULT,
            201: WEBHOOK_RESULT,
            **ERROR_RESPONSES,
            404: OpenApiResponse(PLATFORM_ERROR, description="Unknown webhook token"),
        },
        tags=["ingestion"],
        auth=[],
    )
    def post(self, request: Request, token: str) -> Response:
        tenant = tenant_for_webhook_token(token=token)
        if tenant is None:
            return Response(error_body("platform", 404, "Unknown webhook.", request), status=404)
        payload = request.data
        call_id = webhook_call_id(payload)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature_is_valid(tenant.webhook_secret, call_id, signature):
            return Response(
                error_body("platform", 401, "Missing or invalid webhook signature.", request),
                status=401,
            )
        if not isinstance(payload, dict):  # pragma: no cover - a list has no call id to sign
            raise InvalidRequest("The body must be a webhook payload object.")
        try:
            result = ingest_synthflow_delivery(tenant=tenant, payload=payload)
        except DocumentsInvalid as exc:
            raise InvalidRequest(
                "Invalid call document(s); nothing was written.", exc.errors
            ) from None
        counts = {name: 0 for name in ("created", "updated", "unchanged", "ignored")}
        counts[result.outcome] = 1
        return Response(
            {"results": [{"call_id": result.call_id, "outcome": result.outcome}], **counts},
            status=status.HTTP_201_CREATED if result.outcome == "created" else status.HTTP_200_OK,
        )
