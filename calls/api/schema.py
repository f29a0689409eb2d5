"""OpenAPI pieces of the call APIs: their error responses per family, their request bodies, and
query parameters generated from the FilterSets (so the schema cannot drift from what a view
accepts)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from calls.api import filters
from calls.enums import CallStatus, Channel, LeadSource, LeadStatus
from config.api.params import YEAR_PATTERN, time_zone_names
from config.api.schema import EMPTY_IS_ABSENT, PlatformErrorSerializer, SynthflowErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Unknown, repeated or malformed parameter (the message names it)",
    401: "Missing, malformed, unknown, revoked or expired API key",
    403: (
        "The API key's scope does not allow this request: reads (and live tickets) need "
        "`read` or `all`, writes `ingest` or `all`"
    ),
    404: "No such call for this key's tenant",
    413: "Request body larger than the server takes (`MAX_REQUEST_BODY_BYTES`)",
    429: "Too many requests for this tenant; retry after the `Retry-After` header's seconds",
    503: "The read took too long and was cancelled; retry after the `Retry-After` header's seconds",
}
# What every read can answer besides its own 400 and 404: no valid key (401), a key whose scope
# does not allow reading (403), a body over the limit (413, checked before routing), the
# tenant's read budget spent (429), a read cancelled after ``API_READ_STATEMENT_TIMEOUT_MS``
# (503).
READ_ERROR_CODES = (400, 401, 403, 413, 429, 503)


def synthflow_errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses with Synthflow's body (``/v2/...``)."""
    return {
        code: OpenApiResponse(SynthflowErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


def platform_errors(*codes: int, media_type: str | None = None) -> dict[Any, OpenApiResponse]:
    """Error responses with the native body ``{"detail", "errors"?}``."""
    return {
        ((code, media_type) if media_type else code): OpenApiResponse(
            PlatformErrorSerializer, description=ERROR_DESCRIPTIONS[code]
        )
        for code in codes
    }


PHONE_PATTERN = r"^\+?[1-9][0-9]{1,14}$"
# Text parameters take any characters but NUL (no database text can hold it).
NO_NUL_PATTERN = r"^[^\x00]*$"
# One value of a comma-separated list filter: the comma separates values, so no value holds one
# (a value with commas would arrive as several, and could push the list over its cap).
LIST_ITEM_PATTERN = r"^[^\x00,]*$"
# An ISO 8601 datetime within the years the server takes (``config.api.params``).
DATETIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": YEAR_PATTERN}


def time_zone_schema() -> dict[str, Any]:
    """A ``timezone`` parameter: one of the zone names the server knows."""
    return {"type": "string", "enum": list(time_zone_names())}


# --- request bodies --------------------------------------------------------------------------

# What the ingestion endpoints check of a body, for the OpenAPI document. The full call document
# (every optional field, both the Synthflow and the native shapes) is ``calls.documents``; keys
# it does not know are ignored, so the schemas list the fields a request must get right and let
# the others through.
_TEXT = {"type": "string", "pattern": NO_NUL_PATTERN}
# A stored instant: ISO 8601 (naive means UTC) or milliseconds since the epoch, from
# 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z (``documents.EARLIEST_INSTANT`` …).
STORED_INSTANT = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": r"^(19[7-9][0-9]|2[01][0-9]{2})-"},
        {"type": "integer", "minimum": 0, "maximum": 7_258_118_399_999},
    ],
    "description": "ISO 8601 (naive means UTC) or milliseconds since the epoch; in UTC from "
    "1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z.",
}
CALL_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A call document (`calls/documents.py` lists every field: transcript, "
    "collected variables, actions, latencies, errors, lead, agent, workflow, …). Only "
    "`call_id`, `status` and `start_time` are required. `cost_usd` (alias `cost`) and "
    "`cost_breakdown` (alias `costBreakdown`; `stt`, `llm`, `tts`, `telephony`, `platform`, "
    "`other`) are US dollars; "
    "top-level keys Callscope does not model are kept as sent in the call's `extra`.",
    "required": ["call_id", "status", "start_time"],
    "properties": {
        "call_id": {**_TEXT, "minLength": 1, "maxLength": 100},
        "status": {"type": "string", "enum": list(CallStatus.values)},
        "start_time": STORED_INSTANT,
    },
    "additionalProperties": True,
}
INGEST_REQUEST_SCHEMA: dict[str, Any] = {
    "anyOf": [
        CALL_DOCUMENT_SCHEMA,
        {
            "type": "object",
            "required": ["calls"],
            "properties": {
                "calls": {
                    "type": "array",
                    "items": CALL_DOCUMENT_SCHEMA,
                    "minItems": 1,
                    "maxItems": settings.MAX_CALLS_PER_BATCH,
                }
            },
            "additionalProperties": False,
        },
    ]
}
_NULLABLE_TEXT = {**_TEXT, "nullable": True}
LEAD_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A lead: `lead_id` or `phone_number` (or both) names it. `estimated_value` "
    "(a decimal, at most 2 places) may be sent too; unknown keys are ignored.",
    "properties": {
        "lead_id": {**_NULLABLE_TEXT, "maxLength": 64},
        "phone_number": {
            "type": "string",
            "nullable": True,
            "pattern": r"^(\+[1-9][0-9]{1,14})?$",
            "description": "E.164 (spaces, dashes, dots and brackets are dropped first).",
        },
        "name": {**_NULLABLE_TEXT, "maxLength": 200},
        "email": {**_NULLABLE_TEXT, "maxLength": 254},
        "source": {"type": "string", "nullable": True, "enum": [*LeadSource.values, None]},
        "channel": {"type": "string", "nullable": True, "enum": [*Channel.values, None]},
        "status": {"type": "string", "nullable": True, "enum": [*LeadStatus.values, None]},
        "score": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 100},
    },
    "anyOf": [
        {"required": ["lead_id"], "properties": {"lead_id": {"type": "string", "minLength": 1}}},
        {
            "required": ["phone_number"],
            "properties": {"phone_number": {"type": "string", "minLength": 1}},
        },
    ],
    "additionalProperties": True,
}


def _schema_of(name: str, flt: django_filters.Filter) -> tuple[Any, dict[str, Any]]:
    """The OpenAPI type and extra schema keywords of one filter."""
    extra = flt.extra
    if isinstance(flt, filters.ListFilter | filters.ListParameter):
        items: dict[str, Any] = {
            "type": "string",
            "maxLength": extra.get("max_length", 200),
            "pattern": LIST_ITEM_PATTERN,
        }
        if extra.get("choices"):
            # Items are stripped and blank ones skipped (``CommaSeparatedWidget``): ``status=``
            # and ``status=a,,b`` are valid, so the empty item is one of the values.
            items = {"type": "string", "enum": [*extra["choices"], ""]}
        max_items = extra.get("max_items", filters.MAX_LIST_VALUES)
        return {"type": "array", "items": items, "maxItems": max_items}, {}
    if isinstance(flt, filters.EpochMsFilter):
        return {"type": "integer", "format": "int64", "minimum": 0, "maximum": filters.MAX_MS}, {}
    if isinstance(flt, filters.IntegerFilter):
        schema: dict[str, Any] = {"type": "integer"}
        if "min_value" in extra:
            schema["minimum"] = extra["min_value"]
        if "max_value" in extra:
            schema["maximum"] = extra["max_value"]
        return schema, {}
    if isinstance(flt, filters.UsdFilter):
        return {"type": "string", "pattern": filters.USD_PATTERN}, {}
    if isinstance(flt, filters.IsoDateTimeFilter):
        return dict(DATETIME_SCHEMA), {}
    if isinstance(flt, filters.TimezoneParameter):
        return time_zone_schema(), {}
    if isinstance(flt, filters.StrictBooleanFilter):
        return OpenApiTypes.BOOL, {}
    if isinstance(flt, filters.PhoneFilter):
        return {"type": "string", "pattern": PHONE_PATTERN}, {}
    if isinstance(flt, django_filters.ChoiceFilter | filters.ChoiceParameter):
        choices = extra.get("choices") or []
        return {"type": "string", "enum": [value for value, _ in choices]}, {}
    schema = {"type": "string", "pattern": NO_NUL_PATTERN}
    if extra.get("max_length"):
        schema["maxLength"] = extra["max_length"]
    if extra.get("required"):
        schema["minLength"] = 1
    return schema, {}


def _admits_empty(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and schema.get("pattern") == NO_NUL_PATTERN
        and not schema.get("minLength")
    )


def filterset_parameters(
    filterset_class: type[filters.StrictFilterSet], descriptions: dict[str, str] | None = None
) -> list[OpenApiParameter]:
    """One documented query parameter per filter of ``filterset_class``."""
    descriptions = descriptions or {}
    parameters = []
    for name, flt in filterset_class.base_filters.items():
        schema, _ = _schema_of(name, flt)
        help_text = descriptions.get(name) or flt.extra.get("help_text") or ""
        multiple = getattr(flt, "multiple", False)
        if multiple:
            help_text = f"{help_text} Comma-separated or repeated; any of them matches.".strip()
        parameters.append(
            OpenApiParameter(
                name,
                schema,
                OpenApiParameter.QUERY,
                required=bool(flt.extra.get("required")),
                description=help_text,
                explode=False if multiple else None,
                # A FilterSet reads an optional filter sent empty (``?duration_min=``) as not
                # sent; a list sent empty is the empty array and free text the empty string,
                # which their schemas admit already.
                extensions=(
                    None
                    if multiple or flt.extra.get("required") or _admits_empty(schema)
                    else {EMPTY_IS_ABSENT: True}
                ),
            )
        )
    return parameters
