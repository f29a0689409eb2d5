"""The call document and the lead document: what ingestion accepts, validated with pydantic.

One schema accepts both the Synthflow shapes (a ``bot:/human:`` transcript string, actions as an
object keyed by name, ms-epoch times) and the native shapes (a list of turns, latencies, errors,
lead, agent, workflow, intents). Everything is normalised here, so the upsert service works on one
shape only. Every limit mirrors a column limit: a document that validates can always be stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from calls.enums import (
    CallStatus,
    CallType,
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

INT32_MAX = 2_147_483_647
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Outside this range a datetime cannot be stored or rendered as ms epoch reliably.
_MIN_MS = 0
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _json_without_nul(value: Any) -> Any:
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(str(key))
            _json_without_nul(item)
    elif isinstance(value, list):
        for item in value:
            _json_without_nul(item)
    return value


def Text(max_length: int | None = None) -> Any:
    return Annotated[str, Field(max_length=max_length), AfterValidator(_no_nul)]


JsonValue = Annotated[Any, AfterValidator(_json_without_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_without_nul)]
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (naive means UTC) or milliseconds since the epoch, as a number or numeric string."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 datetime or milliseconds since the epoch")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        ms = float(value)
        if not _MIN_MS <= ms <= _MAX_MS:
            raise ValueError("milliseconds since the epoch out of range")
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 datetime or milliseconds since the epoch"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("must be an ISO 8601 datetime or milliseconds since the epoch")


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


def normalize_phone(value: Any) -> Any:
    if isinstance(value, str):
        value = re.sub(r"[\s\-().]", "", value)
    return value


def _e164(value: str) -> str:
    if value and not E164.match(value):
        raise ValueError("must be an E.164 phone number, e.g. +14155552671")
    return value


Phone = Annotated[str, BeforeValidator(normalize_phone), AfterValidator(_e164)]
AnyPhone = Annotated[
    str, BeforeValidator(normalize_phone), Field(max_length=32), AfterValidator(_no_nul)
]


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class TurnIn(_Strict):
    role: TurnRole
    text: Text(100_000)  # type: ignore[valid-type]
    start_ms: Int32 | None = None
    end_ms: Int32 | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _role_alias(cls, value: Any) -> Any:
        return ROLE_ALIASES.get(value, value) if isinstance(value, str) else value


ROLE_ALIASES = {
    "user": TurnRole.HUMAN,
    "customer": TurnRole.HUMAN,
    "caller": TurnRole.HUMAN,
    "assistant": TurnRole.BOT,
    "agent": TurnRole.BOT,
    "function": TurnRole.TOOL,
}


def parse_transcript_string(text: str) -> list[dict[str, Any]]:
    """Synthflow's ``"bot: …\\nhuman: …"``. A line without a known speaker continues the turn
    before it; text before the first speaker is a system line."""
    turns: list[dict[str, Any]] = []
    for line in text.splitlines():
        speaker, sep, rest = line.partition(":")
        role = speaker.strip().lower()
        role = ROLE_ALIASES.get(role, role)
        if sep and role in TurnRole.values:
            turns.append({"role": role, "text": rest.strip()})
        elif line.strip():
            if turns:
                turns[-1]["text"] = f"{turns[-1]['text']}\n{line.strip()}"
            else:
                turns.append({"role": TurnRole.SYSTEM, "text": line.strip()})
    return turns


class LatencyIn(_Strict):
    provider_type: ProviderType
    provider_name: Text(64) = ""  # type: ignore[valid-type]
    latency_ms: float = Field(ge=0, le=86_400_000)
    tokens: Int32 | None = None


class ErrorIn(_Strict):
    timestamp: Timestamp | None = None
    service: ErrorService
    level: ErrorLevel = ErrorLevel.ERROR
    message: Text(10_000)  # type: ignore[valid-type]
    details: JsonObject = Field(default_factory=dict)
    agent_name: Text(200) = ""  # type: ignore[valid-type]


class ActionIn(_Strict):
    model_config = ConfigDict(extra="allow")

    name: Text(200)  # type: ignore[valid-type]
    action_type: Text(64) = ""  # type: ignore[valid-type]
    success: bool | None = None
    latency_ms: float | None = Field(default=None, ge=0, le=86_400_000)

    @property
    def payload(self) -> dict[str, Any]:
        # Only what the sender said: defaults it never sent are not part of the action.
        return _json_without_nul(self.model_dump(mode="json", exclude_unset=True))


class AgentIn(_Strict):
    model_id: Text(100) = Field(min_length=1)  # type: ignore[valid-type]
    name: Text(200) | None = None  # type: ignore[valid-type]
    type: CallType | None = None


class WorkflowIn(_Strict):
    slug: Text(100) = Field(min_length=1)  # type: ignore[valid-type]
    name: Text(200) | None = None  # type: ignore[valid-type]


class LeadIn(_Strict):
    """A lead, inside a call document or posted to ``/api/v1/leads``."""

    lead_id: Text(64) | None = None  # type: ignore[valid-type]
    phone_number: Phone | None = None
    name: Text(200) | None = None  # type: ignore[valid-type]
    email: Text(254) | None = None  # type: ignore[valid-type]
    source: LeadSource | None = None
    channel: Channel | None = None
    status: LeadStatus | None = None
    score: int | None = Field(default=None, ge=0, le=100)
    estimated_value: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)

    def model_post_init(self, context: Any) -> None:
        if not self.lead_id and not self.phone_number:
            raise ValueError("a lead needs a lead_id or a phone_number")


class IntentIn(_Strict):
    intent: Text(100)  # type: ignore[valid-type]
    confidence: float = Field(ge=0, le=1)
    estimated_deal_size: float | None = Field(default=None, ge=0)


class VariableIn(_Strict):
    value: JsonValue = None
    collected: bool = True


def _variables(value: Any) -> Any:
    """``{agent: {name: {value, collected}}}``; a bare value means collected."""
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for agent_key, variables in value.items():
        if not isinstance(variables, dict):
            raise ValueError(f"collected_variables.{agent_key} must be an object of variables")
        result[agent_key] = {
            name: item if isinstance(item, dict) and "value" in item else {"value": item}
            for name, item in variables.items()
        }
    return result


def _actions(value: Any) -> Any:
    """Synthflow sends actions as an object keyed by action name; the native shape is a list."""
    if isinstance(value, dict):
        return [
            {"name": key, **item} if isinstance(item, dict) else {"name": key, "result": item}
            for key, item in value.items()
        ]
    return value


def _transcript(value: Any) -> Any:
    return parse_transcript_string(value) if isinstance(value, str) else value


def _sentiment(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and value else _blank_to_none(value)


class CallDocument(_Strict):
    """One call. Only ``call_id``, ``status`` and ``start_time`` are required; a field left out
    keeps what is stored (see ``model_fields_set``)."""

    call_id: Text(100) = Field(min_length=1)  # type: ignore[valid-type]
    status: CallStatus
    start_time: Timestamp

    model_id: Text(100) | None = None  # type: ignore[valid-type]
    agent: AgentIn | None = None
    workflow: WorkflowIn | None = None
    lead: LeadIn | None = None

    end_time: Timestamp | None = None
    duration: Int32 | None = None
    end_call_reason: Text(64) = ""  # type: ignore[valid-type]
    custom_end_call_reason: Text(10_000) | None = None  # type: ignore[valid-type]
    error_message: Text(10_000) = ""  # type: ignore[valid-type]
    type_of_call: CallType | None = None
    channel: Channel | None = None

    name: Text(200) = ""  # type: ignore[valid-type]
    lead_name: Text(200) = ""  # type: ignore[valid-type]
    lead_phone_number: Phone = ""
    phone_number_from: AnyPhone = ""
    phone_number_to: AnyPhone = ""
    agent_phone_number: AnyPhone = ""

    recording_url: Text(1000) = ""  # type: ignore[valid-type]
    recording_duration: Text(32) = ""  # type: ignore[valid-type]
    timezone: Text(64) = ""  # type: ignore[valid-type]
    campaign_type: Text(32) = ""  # type: ignore[valid-type]
    deployment_type: Text(32) = ""  # type: ignore[valid-type]
    labels: list[Text(100)] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    agents_used: list[Text(200)] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    prompt_variables: JsonObject = Field(default_factory=dict)
    judge_results: JsonValue = None

    telephony_hangup: TelephonyHangup | None = None
    telephony_disconnect_reason: Text(32) = ""  # type: ignore[valid-type]
    telephony_duration: Int32 | None = None
    telephony_ringing_duration: Int32 | None = None
    telephony_start: Timestamp | None = None
    telephony_end: Timestamp | None = None

    sentiment: Sentiment | None = None
    success: bool | None = None
    handoff: bool = False
    total_tokens: Int32 | None = None
    response_time_ms: float | None = Field(default=None, ge=0, le=86_400_000)

    transcript: Annotated[list[TurnIn], BeforeValidator(_transcript)] | None = Field(
        default=None, max_length=10_000
    )
    collected_variables: (
        Annotated[
            dict[Text(100), dict[Text(200), VariableIn]], BeforeValidator(_variables)  # type: ignore[valid-type]
        ]
        | None
    ) = None
    executed_actions: Annotated[list[ActionIn], BeforeValidator(_actions)] | None = Field(
        default=None, max_length=1_000
    )
    latencies: list[LatencyIn] | None = Field(default=None, max_length=10_000)
    errors: list[ErrorIn] | None = Field(default=None, max_length=1_000)
    intents: list[IntentIn] | None = Field(default=None, max_length=100)

    @field_validator(
        "custom_end_call_reason", "type_of_call", "channel", "telephony_hangup", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _lower_sentiment(cls, value: Any) -> Any:
        return _sentiment(value)

    @field_validator(
        "end_call_reason",
        "error_message",
        "name",
        "lead_name",
        "lead_phone_number",
        "phone_number_from",
        "phone_number_to",
        "agent_phone_number",
        "recording_url",
        "recording_duration",
        "timezone",
        "campaign_type",
        "deployment_type",
        "telephony_disconnect_reason",
        mode="before",
    )
    @classmethod
    def _null_is_blank(cls, value: Any) -> Any:
        # Synthflow sends null for absent text; the columns store "".
        if value is None:
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @property
    def agent_model_id(self) -> str | None:
        if self.agent is not None:
            return self.agent.model_id
        return self.model_id

    def fields_set(self) -> set[str]:
        return set(self.model_fields_set)


def format_errors(exc: ValidationError, index: int | None = None) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"index", "field", "message"}]`` with dotted field paths."""
    items = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "(document)"
        item: dict[str, Any] = {"field": field, "message": error["msg"]}
        if index is not None:
            item = {"index": index, **item}
        items.append(item)
    return items


CallOutcomeName = Literal["created", "updated", "unchanged"]
