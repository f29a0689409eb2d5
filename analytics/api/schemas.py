"""Response shapes of the analytics endpoints, for the OpenAPI schema.

The views render the query layer's dicts directly; these serializers only describe them, field
for field (nullable exactly where a value can be null), and the schema tests hold the two
together.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from analytics.queries import END_REASON_SERIES_KEYS, STATUS_SERIES_KEYS
from config.api.schema import PlatformErrorSerializer, SynthflowErrorSerializer

S = serializers

# --- Common -----------------------------------------------------------------------------------


class AnalyticsWindowSerializer(S.Serializer):
    start = S.DateTimeField(help_text="Start of the window (included).")
    end = S.DateTimeField(help_text="End of the window (excluded).")


class AnalyticsMetaSerializer(S.Serializer):
    timezone = S.CharField(help_text="IANA zone of the day buckets and dates of this answer.")
    window = AnalyticsWindowSerializer()
    as_of = S.DateTimeField(help_text="The answer includes every row written before this.")


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


def _counts_by_date(keys: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "date": {"type": "string", "format": "date"},
            **{key: {"type": "integer"} for key in keys},
        },
        "required": ["date", *keys],
        "additionalProperties": {"type": "integer"},
    }


# --- Errors -----------------------------------------------------------------------------------


class SalesErrorSerializer(S.Serializer):
    error = S.CharField(help_text="invalid_request, unauthorized or unprocessable")
    message = S.CharField()


# Besides the first two, every read can answer 413 (a body over the limit, refused before the
# view), 429 (the tenant's read budget spent) and 503 (a read cancelled after
# ``API_READ_STATEMENT_TIMEOUT_MS``), each in the family's own error body.
COMMON_ERROR_DESCRIPTIONS = {
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
    SynthflowErrorSerializer, {400: "Invalid parameter", 401: "Missing or invalid API key"}
)
PLATFORM_ERRORS = _errors(
    PlatformErrorSerializer, {400: "Invalid parameter", 401: "Missing or invalid API key"}
)
SALES_ERRORS = _errors(
    SalesErrorSerializer,
    {400: "invalid_request", 401: "unauthorized", 422: "unprocessable (over 365 days)"},
)

# --- Synthflow: GET /v2/analytics/ ------------------------------------------------------------


class SynthflowDatedValueSerializer(S.Serializer):
    date = S.DateField()
    value = S.IntegerField()


class SynthflowExecutedActionItemSerializer(S.Serializer):
    name = S.CharField(help_text="Action name.")
    value = S.IntegerField(help_text="Executions in the window.")
    series = SynthflowDatedValueSerializer(many=True)
    percentage_change = S.FloatField()


class SynthflowExecutedActionsSerializer(S.Serializer):
    items = SynthflowExecutedActionItemSerializer(many=True)


class SynthflowMinutesUsedSerializer(S.Serializer):
    model_id = S.CharField()
    name = S.CharField()
    minutes_used = S.FloatField()
    percentage_change = S.FloatField()


class SynthflowCallsMadeSerializer(S.Serializer):
    model_id = S.CharField()
    name = S.CharField()
    calls_made = S.IntegerField()
    percent_change = S.FloatField()


class SynthflowSuccessRateSerializer(S.Serializer):
    model_id = S.CharField()
    name = S.CharField()
    success_rate = S.FloatField()
    percentage_change = S.FloatField()


class SynthflowAssistantPerformanceSerializer(S.Serializer):
    by_minutes_used = SynthflowMinutesUsedSerializer(many=True)
    by_calls_made = SynthflowCallsMadeSerializer(many=True)
    by_success_rate = SynthflowSuccessRateSerializer(many=True)


class SynthflowCallStatusItemSerializer(S.Serializer):
    status = S.CharField()
    value = S.IntegerField()
    percentage = S.FloatField()
    percentage_change = S.FloatField()


@extend_schema_field(
    _counts_by_date(STATUS_SERIES_KEYS, "Calls per status on one local day; other statuses seen.")
)
class StatusCountsField(S.DictField):
    pass


class SynthflowCallStatusStatSerializer(S.Serializer):
    items = SynthflowCallStatusItemSerializer(many=True)
    series = S.ListField(child=StatusCountsField())


class SynthflowRecentCallSerializer(S.Serializer):
    call_id = S.CharField()
    call_status = S.CharField()
    duration = S.IntegerField(allow_null=True)
    agent_name = S.CharField(allow_null=True)
    model_id = S.CharField(allow_null=True)
    lead_phone_number = S.CharField(allow_null=True)
    created_at = S.DateTimeField(help_text="The call's start.")


class SynthflowRecentCallHistorySerializer(S.Serializer):
    items = SynthflowRecentCallSerializer(many=True)


class SynthflowDurationPointSerializer(S.Serializer):
    date = S.DateField()
    total_minutes = S.FloatField()
    average_duration = S.FloatField()
    total_calls = S.IntegerField()


class SynthflowDurationMetricsSerializer(S.Serializer):
    total_minutes = S.FloatField()
    average_duration = S.FloatField(help_text="Minutes per call.")
    total_calls = S.IntegerField()
    series = SynthflowDurationPointSerializer(many=True)
    total_minutes_percentage_change = S.FloatField()
    total_duration_percentage_change = S.FloatField()
    total_calls_percentage_change = S.FloatField()


class SynthflowEndCallReasonItemSerializer(S.Serializer):
    reason = S.CharField()
    value = S.IntegerField()
    percentage = S.FloatField()


@extend_schema_field(
    _counts_by_date(END_REASON_SERIES_KEYS, "Calls per end reason on one local day.")
)
class EndReasonCountsField(S.DictField):
    pass


class SynthflowEndCallReasonStatSerializer(S.Serializer):
    items = SynthflowEndCallReasonItemSerializer(many=True)
    series = S.ListField(child=EndReasonCountsField())


class SynthflowSentimentPointSerializer(S.Serializer):
    date = S.DateField()
    positive = S.IntegerField()
    total = S.IntegerField()


class SynthflowSentimentStatSerializer(S.Serializer):
    positive_percentage = S.FloatField()
    series = SynthflowSentimentPointSerializer(many=True)
    positive_percentage_change = S.FloatField()


class SynthflowAnalyticsSerializer(S.Serializer):
    executed_actions = SynthflowExecutedActionsSerializer()
    assistant_performance = SynthflowAssistantPerformanceSerializer()
    call_status_stat = SynthflowCallStatusStatSerializer()
    recent_call_history = SynthflowRecentCallHistorySerializer()
    duration_metrics = SynthflowDurationMetricsSerializer()
    end_call_reason_stat = SynthflowEndCallReasonStatSerializer()
    sentiment_stat = SynthflowSentimentStatSerializer()
    meta = AnalyticsMetaSerializer()


# --- Voice platform ---------------------------------------------------------------------------


class PlatformSummarySerializer(S.Serializer):
    total_calls = S.IntegerField()
    completed_calls = S.IntegerField()
    failed_calls = S.IntegerField()
    active_calls = S.IntegerField()
    avg_duration_seconds = S.FloatField(allow_null=True)
    success_rate = S.FloatField(allow_null=True)
    total_tokens = S.IntegerField()
    avg_stt_latency_ms = S.FloatField(allow_null=True)
    avg_llm_latency_ms = S.FloatField(allow_null=True)
    avg_tts_latency_ms = S.FloatField(allow_null=True)
    meta = AnalyticsMetaSerializer()


class PlatformVolumePointSerializer(S.Serializer):
    timestamp = S.DateTimeField(help_text="Local start of the bucket, with its UTC offset.")
    total = S.IntegerField()
    completed = S.IntegerField()
    failed = S.IntegerField()


class PlatformCallVolumeSerializer(S.Serializer):
    interval = S.ChoiceField(choices=["hour", "day", "week"])
    # Declared fields leave the class namespace (the serializer metaclass collects them), so
    # naming one like Serializer.data is safe.
    data = PlatformVolumePointSerializer(many=True)  # type: ignore[assignment]
    meta = AnalyticsMetaSerializer()


class PlatformWorkflowStatSerializer(S.Serializer):
    workflow_id = S.CharField()
    workflow_name = S.CharField()
    workflow_slug = S.CharField()
    total_calls = S.IntegerField()
    completed_calls = S.IntegerField()
    failed_calls = S.IntegerField()
    success_rate = S.FloatField()
    avg_duration_seconds = S.FloatField(allow_null=True)


class PlatformProviderLatencySerializer(S.Serializer):
    provider_type = S.CharField()
    provider_name = S.CharField()
    avg_latency_ms = S.FloatField()
    p50_latency_ms = S.FloatField()
    p95_latency_ms = S.FloatField()
    p99_latency_ms = S.FloatField()
    call_count = S.IntegerField()


class PlatformErrorLogSerializer(S.Serializer):
    id = S.CharField()
    call_id = S.CharField(allow_null=True)
    timestamp = S.DateTimeField()
    service = S.CharField()
    level = S.CharField()
    message = S.CharField()
    details = S.DictField()
    agent = S.CharField()


class PlatformErrorLogPageSerializer(S.Serializer):
    items = PlatformErrorLogSerializer(many=True)
    total = S.IntegerField()
    meta = AnalyticsMetaSerializer()


class PlatformActiveCallsSerializer(S.Serializer):
    count = S.IntegerField()
    meta = AnalyticsMetaSerializer()


# --- Sales ------------------------------------------------------------------------------------


class SalesPeriodSerializer(S.Serializer):
    startDate = S.DateField()
    endDate = S.DateField()


class SalesSummarySerializer(S.Serializer):
    totalConversations = S.IntegerField()
    totalLeads = S.IntegerField()
    qualifiedLeads = S.IntegerField()
    conversionRate = S.FloatField(allow_null=True)
    avgLeadScore = S.FloatField(allow_null=True)
    avgResponseTime = S.FloatField(allow_null=True)
    avgMessagesPerConversation = S.FloatField(allow_null=True)
    handoffRate = S.FloatField(allow_null=True)
    totalRevenuePipeline = S.FloatField()


class SalesComparedCountSerializer(S.Serializer):
    value = S.IntegerField()
    change = S.FloatField(allow_null=True)


class SalesComparedRateSerializer(S.Serializer):
    value = S.FloatField(allow_null=True)
    change = S.FloatField(allow_null=True)


class SalesComparisonSerializer(S.Serializer):
    period = SalesPeriodSerializer()
    totalConversations = SalesComparedCountSerializer()
    totalLeads = SalesComparedCountSerializer()
    qualifiedLeads = SalesComparedCountSerializer()
    conversionRate = SalesComparedRateSerializer()


class SalesPointSerializer(S.Serializer):
    period = S.CharField(help_text="YYYY-MM-DD for days, first/last for weeks and months.")
    conversations = S.IntegerField()
    leads = S.IntegerField()
    qualifiedLeads = S.IntegerField()
    conversionRate = S.FloatField(allow_null=True)


class SalesOverviewSerializer(S.Serializer):
    period = SalesPeriodSerializer()
    summary = SalesSummarySerializer()
    comparison = SalesComparisonSerializer(allow_null=True)
    timeSeries = SalesPointSerializer(many=True)
    meta = AnalyticsMetaSerializer()


class SalesFunnelStageSerializer(S.Serializer):
    name = S.CharField()
    count = S.IntegerField()
    conversionToNext = S.FloatField(allow_null=True)


class SalesFunnelSerializer(S.Serializer):
    period = SalesPeriodSerializer()
    stages = SalesFunnelStageSerializer(many=True)
    overallConversion = S.FloatField(allow_null=True)
    topDropoffStage = S.CharField(allow_null=True)
    meta = AnalyticsMetaSerializer()


class SalesActivityEventSerializer(S.Serializer):
    id = S.CharField()
    type = S.CharField()
    leadId = S.CharField(allow_null=True)
    conversationId = S.CharField(allow_null=True)
    description = S.CharField()
    metadata = S.DictField()
    occurredAt = S.DateTimeField()


class SalesPaginationSerializer(S.Serializer):
    page = S.IntegerField()
    limit = S.IntegerField()
    total = S.IntegerField()
    totalPages = S.IntegerField()
    hasMore = S.BooleanField()


class SalesActivityFeedSerializer(S.Serializer):
    data = SalesActivityEventSerializer(many=True)  # type: ignore[assignment]
    pagination = SalesPaginationSerializer()
    meta = AnalyticsMetaSerializer()
