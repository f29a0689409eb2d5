"""Response shapes of the call read APIs (native ``/api/v1/calls`` and Synthflow ``/v2/calls``).

The serializers render loaded calls (children prefetched by ``calls.queries``) and describe the
response bodies in the OpenAPI schema; they never query on their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calls import queries
from calls.enums import (
    CallStatus,
    Channel,
    ErrorLevel,
    ErrorService,
    LeadSource,
    LeadStatus,
    ProviderType,
    Sentiment,
    TelephonyHangup,
    TurnRole,
)
from calls.models import Call

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- rendering helpers -----------------------------------------------------------------------


def ms_epoch(value: datetime) -> str:
    """Milliseconds since the epoch as a string, as Synthflow renders ``start_time``."""
    return str((value - _EPOCH) // timedelta(milliseconds=1))


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def transcript_text(turns: list[tuple[str, str]]) -> str:
    """Synthflow's transcript string: one ``role: text`` line per turn."""
    return "\n".join(f"{role}: {text}" for role, text in turns)


def variables_object(variables: list[tuple[str, str, Any, bool]]) -> dict[str, dict[str, Any]]:
    """``{agent_key: {name: {"value", "collected"}}}``."""
    result: dict[str, dict[str, Any]] = {}
    for agent_key, name, value, collected in variables:
        result.setdefault(agent_key, {})[name] = {"value": value, "collected": collected}
    return result


# Keys ingestion adds to every stored payload; left out when the platform did not fill them.
_ACTION_DEFAULTS = {"action_type": "", "success": None, "latency_ms": None}


def action_payload(
    name: str,
    payload: dict[str, Any],
    action_type: str,
    success: bool | None,
    latency_ms: float | None,
) -> dict[str, Any]:
    """The action as the platform sent it; the stored columns when no payload was kept."""
    if payload:
        return {
            key: value
            for key, value in payload.items()
            if not (key in _ACTION_DEFAULTS and value == _ACTION_DEFAULTS[key])
        }
    return {
        "name": name,
        "action_type": action_type,
        "success": success,
        "latency_ms": latency_ms,
    }


def actions_object(
    actions: list[tuple[str, dict[str, Any], str, bool | None, float | None]],
) -> dict[str, Any]:
    """Synthflow's ``executed_actions``: an object keyed by action name (a name executed twice
    shows its last execution)."""
    return {action[0]: action_payload(*action) for action in actions}


def blank_to_none(value: str | None) -> str | None:
    return value or None


# --- schema helpers --------------------------------------------------------------------------

VARIABLE_SCHEMA = {
    "type": "object",
    "properties": {
        "value": {"description": "The collected value (any JSON value)."},
        "collected": {"type": "boolean"},
    },
    "required": ["value", "collected"],
}
VARIABLES_SCHEMA = {
    "type": "object",
    "description": "Keyed by agent id, then by variable name.",
    "additionalProperties": {"type": "object", "additionalProperties": VARIABLE_SCHEMA},
}
ACTIONS_OBJECT_SCHEMA = {
    "type": "object",
    "description": "Keyed by action name: the action as the platform reported it.",
    "additionalProperties": {"type": "object", "additionalProperties": {}},
}


@extend_schema_field(VARIABLES_SCHEMA)
class CollectedVariablesField(serializers.Field):
    """Renders ``call.variables`` (prefetched) as ``{agent_key: {name: {value, collected}}}``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> dict[str, Any]:
        if hasattr(call, "synthflow"):
            return variables_object(queries.synthflow_children(call).variables)
        return variables_object(
            [(v.agent_key, v.name, v.value, v.collected) for v in call.variables.all()]
        )


@extend_schema_field(ACTIONS_OBJECT_SCHEMA)
class ActionsObjectField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> dict[str, Any]:
        return actions_object(queries.synthflow_children(call).actions)


@extend_schema_field({"type": "string", "description": "One `role: text` line per turn."})
class TranscriptTextField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> str:
        return transcript_text(queries.synthflow_children(call).turns)


@extend_schema_field({"type": "string", "description": "Milliseconds since the epoch."})
class MsEpochField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: datetime) -> str:
        return ms_epoch(value)


@extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
class IsoUtcField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | None) -> str | None:
        return iso_utc(value)


@extend_schema_field({"type": "string", "nullable": True})
class BlankAsNullField(serializers.Field):
    """A text column stored as "" when absent, rendered as null."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: str | None) -> str | None:
        return blank_to_none(value)


@extend_schema_field({"type": "string", "enum": TelephonyHangup.values, "nullable": True})
class HangupField(BlankAsNullField):
    pass


@extend_schema_field({"type": "string", "description": "The agent's model id."})
class ModelIdField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> str:
        return call.agent.model_id if call.agent_id and call.agent else ""


@extend_schema_field({"type": "integer", "description": "Seconds (0 when not known yet)."})
class DurationField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> int:
        return call.duration or 0


@extend_schema_field(OpenApiTypes.BOOL)
class EffectiveSuccessField(serializers.Field):
    """``success`` as the document said, else derived (``calls.models.successful_q``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, call: Call) -> bool:
        return queries.effective_success(call)


# --- Synthflow family ------------------------------------------------------------------------


class SynthflowPaginationSerializer(serializers.Serializer):
    total_records = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class SynthflowListCallSerializer(serializers.Serializer):
    """One call of ``GET /v2/calls`` (Synthflow's list-calls item, field for field)."""

    call_id = serializers.CharField()
    model_id = ModelIdField()
    duration = DurationField()
    end_call_reason = serializers.CharField()
    judge_results = serializers.JSONField(allow_null=True)
    lead_phone_number = serializers.CharField()
    agents_used = serializers.ListField(child=serializers.CharField())
    executed_actions = ActionsObjectField()
    recording_url = BlankAsNullField()
    type_of_call = serializers.CharField(help_text="inbound, outbound or widget; '' if unknown.")
    recording_duration = BlankAsNullField()
    transcript = TranscriptTextField()
    error_message = serializers.CharField()
    call_status = serializers.ChoiceField(source="status", choices=CallStatus.choices)
    start_time = MsEpochField()
    lead_name = serializers.CharField()
    name = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    agent_phone_number = serializers.CharField()
    deployment_type = serializers.CharField()
    timezone = serializers.CharField()
    telephony_hangup = HangupField()
    telephony_disconnect_reason = BlankAsNullField()
    telephony_duration = serializers.IntegerField(allow_null=True, help_text="ms")
    telephony_start = IsoUtcField()
    telephony_end = IsoUtcField()
    campaign_type = serializers.CharField()
    phone_number_from = serializers.CharField()
    phone_number_to = serializers.CharField()
    collected_variables = CollectedVariablesField()


class SynthflowGetCallSerializer(serializers.Serializer):
    """The call of ``GET /v2/calls/{call_id}`` (Synthflow's get-call item, field for field)."""

    call_id = serializers.CharField()
    model_id = ModelIdField()
    campaign_type = serializers.CharField()
    phone_number_from = serializers.CharField()
    phone_number_to = serializers.CharField()
    name = serializers.CharField()
    transcript = TranscriptTextField()
    duration = DurationField()
    recording_url = BlankAsNullField()
    end_call_reason = serializers.CharField(help_text="Open text; Synthflow's known reasons.")
    custom_end_call_reason = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(help_text="Empty string if no error.")
    executed_actions = ActionsObjectField()
    prompt_variables = serializers.DictField(child=serializers.JSONField())
    type_of_call = serializers.CharField(help_text="inbound, outbound or widget; '' if unknown.")
    start_time = MsEpochField()
    timezone = serializers.CharField()
    telephony_hangup = HangupField()
    telephony_disconnect_reason = BlankAsNullField()
    telephony_duration = serializers.IntegerField(allow_null=True, help_text="ms")
    telephony_ringing_duration = serializers.IntegerField(allow_null=True, help_text="ms")
    telephony_start = IsoUtcField()
    telephony_end = IsoUtcField()
    status = serializers.ChoiceField(choices=CallStatus.choices)
    collected_variables = CollectedVariablesField()


def synthflow_envelope(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The response envelope ``{"status": "ok", "response": {"pagination", "calls"}}``."""

    response = type(
        f"{name}Response",
        (serializers.Serializer,),
        {"pagination": SynthflowPaginationSerializer(), "calls": item(many=True)},
    )
    envelope = type(
        name,
        (serializers.Serializer,),
        {
            "status": serializers.CharField(help_text='"ok"'),
            "response": response(),
        },
    )
    return envelope()


# --- native family ---------------------------------------------------------------------------


class AgentSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField(help_text="inbound, outbound or widget; '' if unknown.")


class WorkflowSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class LeadSummarySerializer(serializers.Serializer):
    lead_id = serializers.CharField()
    name = serializers.CharField()
    phone_number = serializers.CharField()
    status = serializers.ChoiceField(choices=LeadStatus.choices)


class LeadSerializer(LeadSummarySerializer):
    email = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    # Field names shadowing Serializer attributes are fine: the metaclass moves declared fields
    # off the class.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text=f"One of {', '.join(LeadSource.values)}, or ''."
    )
    channel = serializers.CharField(help_text=f"One of {', '.join(Channel.values)}, or ''.")
    estimated_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, coerce_to_string=False
    )
    created_at = serializers.DateTimeField()
    qualified_at = serializers.DateTimeField(allow_null=True)
    demo_booked_at = serializers.DateTimeField(allow_null=True)
    converted_at = serializers.DateTimeField(allow_null=True)
    lost_at = serializers.DateTimeField(allow_null=True)


class ActionSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    action_type = serializers.CharField()
    success = serializers.BooleanField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)


class ActionSerializer(ActionSummarySerializer):
    position = serializers.IntegerField()
    payload = serializers.DictField(child=serializers.JSONField())


class TurnSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    role = serializers.ChoiceField(choices=TurnRole.choices)
    text = serializers.CharField()
    start_ms = serializers.IntegerField(allow_null=True)
    end_ms = serializers.IntegerField(allow_null=True)


class LatencySerializer(serializers.Serializer):
    provider_type = serializers.ChoiceField(choices=ProviderType.choices)
    provider_name = serializers.CharField()
    latency_ms = serializers.FloatField()
    tokens = serializers.IntegerField(allow_null=True)


class ErrorLogSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    service = serializers.ChoiceField(choices=ErrorService.choices)
    level = serializers.ChoiceField(choices=ErrorLevel.choices)
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.JSONField())
    agent_name = serializers.CharField()


def _usd_component(name: str) -> serializers.CharField:
    return serializers.CharField(required=False, help_text=f"{name}: US dollars, decimal string.")


class CostBreakdownSerializer(serializers.Serializer):
    """A call's cost by component, in US dollars; only the components that were sent."""

    stt = _usd_component("speech-to-text")
    llm = _usd_component("language model")
    tts = _usd_component("text-to-speech")
    telephony = _usd_component("telephony")
    platform = _usd_component("the agent platform's own fee")
    other = _usd_component("everything else")


class CallListItemSerializer(serializers.Serializer):
    """A call in the native list: everything but its transcript, latencies and errors."""

    call_id = serializers.CharField()
    agent = AgentSerializer(allow_null=True)
    workflow = WorkflowSerializer(allow_null=True)
    lead = LeadSummarySerializer(allow_null=True)
    status = serializers.ChoiceField(choices=CallStatus.choices)
    type_of_call = serializers.CharField(help_text="inbound, outbound or widget; '' if unknown.")
    channel = serializers.CharField(help_text=f"One of {', '.join(Channel.values)}, or ''.")
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField(allow_null=True)
    duration = serializers.IntegerField(allow_null=True, help_text="seconds")
    end_call_reason = serializers.CharField()
    custom_end_call_reason = serializers.CharField(allow_null=True)
    error_message = serializers.CharField()
    sentiment = serializers.ChoiceField(choices=Sentiment.choices, allow_null=True)
    success = EffectiveSuccessField()
    handoff = serializers.BooleanField()
    labels = serializers.ListField(child=serializers.CharField())
    lead_name = serializers.CharField()
    lead_phone_number = serializers.CharField()
    phone_number_from = serializers.CharField()
    phone_number_to = serializers.CharField()
    agent_phone_number = serializers.CharField()
    campaign_type = serializers.CharField()
    deployment_type = serializers.CharField()
    timezone = serializers.CharField()
    recording_url = serializers.CharField()
    recording_duration = serializers.CharField()
    total_tokens = serializers.IntegerField(allow_null=True)
    response_time_ms = serializers.FloatField(allow_null=True)
    platform = serializers.CharField(help_text="The platform the call came from, or ''.")
    cost_usd = serializers.DecimalField(
        max_digits=16,
        decimal_places=6,
        allow_null=True,
        help_text="Total cost in US dollars (a decimal string); null when none was sent.",
    )
    collected_variables = CollectedVariablesField()
    executed_actions = ActionSummarySerializer(source="actions", many=True)


class CallDetailSerializer(CallListItemSerializer):
    """A whole call: every column, the transcript turns, variables, actions with their payloads,
    latency samples, errors and the lead."""

    lead = LeadSerializer(allow_null=True)  # type: ignore[assignment]
    name = serializers.CharField()
    agents_used = serializers.ListField(child=serializers.CharField())
    prompt_variables = serializers.DictField(child=serializers.JSONField())
    judge_results = serializers.JSONField(allow_null=True)
    intents = serializers.ListField(child=serializers.DictField(child=serializers.JSONField()))
    telephony_hangup = serializers.CharField(help_text="caller, callee or ''.")
    telephony_disconnect_reason = serializers.CharField()
    telephony_duration = serializers.IntegerField(allow_null=True, help_text="ms")
    telephony_ringing_duration = serializers.IntegerField(allow_null=True, help_text="ms")
    telephony_start = serializers.DateTimeField(allow_null=True)
    telephony_end = serializers.DateTimeField(allow_null=True)
    platform_end_reason = serializers.CharField(
        help_text="The platform's own end reason, verbatim (`end_call_reason` is normalised)."
    )
    cost_breakdown = CostBreakdownSerializer()
    extra = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Top-level fields of the call's documents that Callscope does not model, "
        "as sent.",
    )
    transcript = TurnSerializer(source="turns", many=True)
    executed_actions = ActionSerializer(source="actions", many=True)  # type: ignore[assignment]
    latencies = LatencySerializer(many=True)
    errors = ErrorLogSerializer(many=True)  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CallPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = CallListItemSerializer(many=True)


# --- agents and workflows ----------------------------------------------------------------------


class DirectoryEntryCallsMixin(serializers.Serializer):
    """The call figures of a ``calls.directory.DirectoryEntry``."""

    call_count = serializers.IntegerField(source="calls.count", help_text="Calls, all time.")
    last_call_at = serializers.DateTimeField(
        source="calls.last_started_at",
        allow_null=True,
        help_text="When the latest call started; null without calls.",
    )


class AgentListItemSerializer(DirectoryEntryCallsMixin):
    model_id = serializers.CharField(
        source="row.model_id", help_text="What the calls' `agent` filter takes."
    )
    name = serializers.CharField(source="row.name")
    type = serializers.CharField(
        source="row.type", help_text="inbound, outbound or widget; '' if unknown."
    )


class WorkflowListItemSerializer(DirectoryEntryCallsMixin):
    slug = serializers.CharField(
        source="row.slug", help_text="What the calls' `workflow` filter takes."
    )
    name = serializers.CharField(source="row.name")


class AgentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = AgentListItemSerializer(many=True)


class WorkflowPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = WorkflowListItemSerializer(many=True)
