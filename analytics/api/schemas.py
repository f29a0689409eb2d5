"""What the OpenAPI schema says of the analytics endpoints besides their answers: the error
bodies of each family and the ``X-Analytics-*`` headers of every answer. The answers themselves
are described from their result types (``analytics.api.shapes``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from config.api.schema import PlatformErrorSerializer, SynthflowErrorSerializer

S = serializers

META_HEADERS = [
    OpenApiParameter(
        "X-Analytics-Timezone",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200],
        description="IANA zone of the day buckets and dates of this answer.",
    ),
    OpenApiParameter(
        "X-Analytics-Window-Start",
        OpenApiTypes.DATETIME,
        OpenApiParameter.HEADER,
        response=[200],
        description="Start of the window (included).",
    ),
    OpenApiParameter(
        "X-Analytics-Window-End",
        OpenApiTypes.DATETIME,
        OpenApiParameter.HEADER,
        response=[200],
        description="End of the window (excluded).",
    ),
    OpenApiParameter(
        "X-Analytics-As-Of",
        OpenApiTypes.DATETIME,
        OpenApiParameter.HEADER,
        response=[200],
        description="The answer includes every row written before this instant.",
    ),
]


# --- Errors -----------------------------------------------------------------------------------


class SalesErrorSerializer(S.Serializer):
    error = S.CharField(help_text="invalid_request, unauthorized, forbidden or unprocessable")
    message = S.CharField()


# Besides the first two, every read can answer 403 (a key whose scope does not allow reading),
# 413 (a body over the limit, refused before the view), 429 (the tenant's read budget spent) and
# 503 (a read cancelled after ``API_READ_STATEMENT_TIMEOUT_MS``), each in the family's own error
# body.
COMMON_ERROR_DESCRIPTIONS = {
    403: "The API key's scope does not allow reading (an `ingest` key)",
    413: "Request body too large",
    429: "Too many requests for this tenant; retry after `Retry-After` seconds",
    503: "The read took too long and was cancelled; retry after `Retry-After` seconds",
}


def _errors(serializer: Any, descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(serializer, description=description)
        for code, description in {**descriptions, **COMMON_ERROR_DESCRIPTIONS}.items()
    }


SYNTHFLOW_ERRORS = _errors(
    SynthflowErrorSerializer, {400: "Invalid parameter", 401: "Missing, invalid or expired API key"}
)
PLATFORM_ERRORS = _errors(
    PlatformErrorSerializer, {400: "Invalid parameter", 401: "Missing, invalid or expired API key"}
)
SALES_ERRORS = _errors(
    SalesErrorSerializer,
    {400: "invalid_request", 401: "unauthorized", 422: "unprocessable (over 365 days)"},
)
