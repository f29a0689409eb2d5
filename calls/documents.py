"""The call document and the lead document: what ingestion accepts, validated with pydantic.

One schema accepts both the Synthflow shapes (a ``bot:/human:`` transcript string, actions as an
object keyed by name, ms-epoch times) and the native shapes (a list of turns, latencies, errors,
lead, agent, workflow, intents). Everything is normalised here, so the upsert service works on one
shape only. Every limit mirrors a column limit: a document that validates can always be stored.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from calls.enums import (
    CallPlatform,
    CallStatus,
    CallType,
    Channel,
    CostComponent,
    ErrorLevel,
    ErrorService,
    LeadSource,
    LeadStatus,
    ProviderType,
    Sentiment,
    TelephonyHangup,
    TurnRole,
)
from config.text import printable

INT32_MAX = 2_147_483_647
MAX_DURATION = timedelta(seconds=INT32_MAX)
# ASCII digits only: ``\d`` alone also matches other scripts' digits (Arabic-Indic, Devanagari…),
# which no dialler or provider accepts and which would never equal a stored ASCII number.
E164 = re.compile(r"^\+[1-9][0-9]{1,14}\Z")
# Outside this range a datetime cannot be stored or rendered as ms epoch reliably.
_MIN_MS = 0
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Deepest nesting of a JSON value (variables, payloads, judge results, details) that is stored.
MAX_JSON_DEPTH = 32
# Instants are accepted from EARLIEST_INSTANT up to (not including) LATEST_INSTANT: every
# tenant-local day of them exists (no zone conversion overflows), ms epoch renders them, and the
# analytics windows (``config.api.params.MIN_YEAR`` to ``MAX_YEAR``) can reach them.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


def _unstorable_text(text: str) -> str | None:
    # PostgreSQL text and jsonb hold neither NUL characters nor lone UTF-16 surrogates (which
    # JSON's "\ud800" escape produces); neither can be encoded as UTF-8.
    if "\x00" in text:
        return "NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "lone UTF-16 surrogates"
    return None


def storable_json(value: Any) -> Any:
    """Checks that a JSON value can be stored in jsonb as sent: no NUL characters or lone
    surrogates in any string or key, only finite numbers, at most ``MAX_JSON_DEPTH`` levels.
    Walked without recursion, so no value can exhaust the stack."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        where = f" (at {'.'.join(path)})" if path else ""
        if isinstance(item, str):
            if problem := _unstorable_text(item):
                raise ValueError(f"must not contain {problem}{where}")
        elif isinstance(item, float):
            if item - item != 0:  # inf or nan
                raise ValueError(f"numbers must be finite{where}")
        elif isinstance(item, dict | list):
            if len(path) >= MAX_JSON_DEPTH:
                raise ValueError(f"must not be nested deeper than {MAX_JSON_DEPTH} levels{where}")
            if isinstance(item, list):
                stack.extend((child, (*path, str(i))) for i, child in enumerate(item))
                continue
            for key, child in item.items():
                key_path = (*path, printable(str(key)))
                if problem := _unstorable_text(str(key)):
                    raise ValueError(f"keys must not contain {problem} (at {'.'.join(key_path)})")
                stack.append((child, key_path))
    return value


def _storable_instant(value: datetime) -> datetime:
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        raise ValueError(
            "must lie between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z (exclusive)"
        )
    # In UTC: PostgreSQL takes offsets up to 15:59 only, Python up to 23:59.
    return instant


def Text(max_length: int | None = None) -> Any:
    return Annotated[str, Field(max_length=max_length), AfterValidator(_no_nul)]


JsonValue = Annotated[Any, AfterValidator(storable_json)]
JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]


def _ascii_digits(text: str) -> bool:
    # ``str.isdigit`` is true of any script's digits (and ``float`` reads them); ours are ASCII.
    return text.isascii() and text.isdigit()


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (naive means UTC) or milliseconds since the epoch, as a number or numeric string."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 datetime or milliseconds since the epoch")
    if isinstance(value, int | float) or (isinstance(value, str) and _ascii_digits(value.strip())):
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


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp), AfterValidator(_storable_instant)]


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
    # No infinite or NaN numbers: neither jsonb nor the analytics arithmetic takes them.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, allow_inf_nan=False)


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
    # Every other key of an action is kept in its jsonb payload: checked like any stored JSON,
    # each under its own name.
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)

    name: Text(200)  # type: ignore[valid-type]
    action_type: Text(64) = ""  # type: ignore[valid-type]
    success: bool | None = None
    latency_ms: float | None = Field(default=None, ge=0, le=86_400_000)

    @model_validator(mode="before")
    @classmethod
    def _storable_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and (problem := _unstorable_text(key)):
                    raise ValueError(f"keys must not contain {problem}")
        return value

    @property
    def payload(self) -> dict[str, Any]:
        # Only what the sender said: defaults it never sent are not part of the action.
        return self.model_dump(mode="json", exclude_unset=True)


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


# USD amounts are stored with 6 decimal places in 16 digits (``Call.cost_usd``): fractions of a
# cent per minute survive, and the largest amount is just under ten billion dollars.
USD_PLACES = Decimal("0.000001")
MAX_USD = Decimal("9999999999.999999")


def parse_usd(value: Any) -> Decimal:
    """A non-negative USD amount from a JSON number or a decimal string, rounded half-even to
    6 places. Refuses booleans, non-finite and negative numbers, exponents past the column."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number or a decimal string of US dollars")
    try:
        # A float through its repr: 0.1 is the decimal 0.1, not the binary fraction's expansion.
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number or a decimal string of US dollars") from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > MAX_USD:
        raise ValueError(f"must be at most {MAX_USD} US dollars")
    return amount.quantize(USD_PLACES, rounding=ROUND_HALF_EVEN)


def usd_text(amount: Decimal) -> str:
    """An amount as the plain decimal string stored in JSON (no exponent)."""
    return format(amount, "f")


def _cost_breakdown(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("must be an object of cost components")
    result: dict[str, str] = {}
    for key, amount in value.items():
        if key not in CostComponent.values:
            raise ValueError(
                f"unknown cost component {printable(str(key))[:64]!r}; "
                f"components are {', '.join(CostComponent.values)}"
            )
        try:
            result[key] = usd_text(parse_usd(amount))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return result


def _is_breakdown(value: Any) -> bool:
    """Whether ``value`` is a cost breakdown in Callscope's components. Another platform's
    ``costBreakdown`` (Vapi's ``transport``, ``vapi``, token counts…) is not converted by
    guesswork: it is kept as sent in ``extra``."""
    try:
        _cost_breakdown(value)
    except ValueError:
        return False
    return True


UsdAmount = Annotated[Decimal, BeforeValidator(parse_usd)]
CostBreakdown = Annotated[dict[str, str], BeforeValidator(_cost_breakdown)]

# What a document may carry beyond the modelled fields (``CallDocument.extra``): kept as sent,
# checked like any stored JSON, and bounded so that a call row stays a call row.
MAX_EXTRA_KEYS = 100
MAX_EXTRA_BYTES = 64 * 1024
# Native spellings of modelled fields (the names several platforms' exports use).
FIELD_ALIASES = {"cost": "cost_usd"}


def extra_problem(extra: dict[str, Any]) -> str | None:
    """Why ``extra`` (a document's, or the merge of a call's stored and new ones) cannot be
    stored, or None."""
    if len(extra) > MAX_EXTRA_KEYS:
        return f"at most {MAX_EXTRA_KEYS} fields Callscope does not model, got {len(extra)}"
    size = len(json.dumps(extra, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_EXTRA_BYTES:
        return f"fields Callscope does not model take at most {MAX_EXTRA_BYTES} bytes, got {size}"
    return None


def _bounded_extra(value: dict[str, Any]) -> dict[str, Any]:
    if problem := extra_problem(value):
        raise ValueError(problem)
    return value


def _sentiment(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and value else _blank_to_none(value)


@cache
def _modelled_fields() -> frozenset[str]:
    # Read once: the class's field map is built anew on each access.
    return frozenset(CallDocument.model_fields) - {"extra"}


class CallDocument(_Strict):
    """One call. Only ``call_id``, ``status`` and ``start_time`` are required; a field left out
    keeps what is stored (see ``model_fields_set``).

    Top-level keys the document does not model are not dropped: they are collected into
    ``extra`` as sent. ``cost`` is read as ``cost_usd`` and ``costBreakdown`` as
    ``cost_breakdown`` when that field is not given too and, for the breakdown, when it names
    only Callscope's components; otherwise they land in ``extra`` like any other key (``extra``
    itself included)."""

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

    platform: CallPlatform | None = None
    platform_end_reason: Text(255) = ""  # type: ignore[valid-type]
    cost_usd: UsdAmount | None = None
    cost_breakdown: CostBreakdown | None = None
    extra: Annotated[JsonObject, AfterValidator(_bounded_extra)] = Field(default_factory=dict)

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

    @model_validator(mode="before")
    @classmethod
    def _collect_extra(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        modelled = _modelled_fields()
        if value.keys() <= modelled:
            return value  # the common case: nothing to gather, nothing to copy
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, item in value.items():
            if key in modelled:
                data[key] = item
            elif FIELD_ALIASES.get(key) in modelled and FIELD_ALIASES[key] not in value:
                data[FIELD_ALIASES[key]] = item
            elif key == "costBreakdown" and "cost_breakdown" not in value and _is_breakdown(item):
                data["cost_breakdown"] = item
            else:
                extra[key] = item
        if extra:
            data["extra"] = extra
        return data

    @field_validator(
        "custom_end_call_reason",
        "type_of_call",
        "channel",
        "telephony_hangup",
        "platform",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _lower_sentiment(cls, value: Any) -> Any:
        return _sentiment(value)

    @field_validator("end_time")
    @classmethod
    def _duration_fits(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # The duration derived from the two times is stored as a 32-bit number of seconds.
        start = info.data.get("start_time")
        if value is not None and start is not None and value - start > MAX_DURATION:
            raise ValueError("must be less than 68 years after start_time")
        return value

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
        "platform_end_reason",
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
        # Keys and messages may quote a key holding a lone surrogate: escaped, so the error
        # body can be encoded.
        field = printable(".".join(str(part) for part in error["loc"])) or "(document)"
        item: dict[str, Any] = {"field": field, "message": printable(error["msg"])}
        if index is not None:
            item = {"index": index, **item}
        items.append(item)
    return items


CallOutcomeName = Literal["created", "updated", "unchanged"]
