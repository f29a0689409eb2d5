"""OpenAPI pieces shared by the API views: the Bearer key scheme, error responses per family, and
query parameters generated from the FilterSets (so the schema cannot drift from what a view
accepts)."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from calls.api import filters
from calls.api.serializers import PlatformErrorSerializer, SynthflowErrorSerializer


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "calls.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A Callscope API key: `Authorization: Bearer cs_…`.",
        }


ERROR_DESCRIPTIONS = {
    400: "Unknown, repeated or malformed parameter (the message names it)",
    401: "Missing, malformed, unknown or revoked API key",
    404: "No such call for this key's tenant",
    429: "Too many requests for this tenant; retry after the `Retry-After` header's seconds",
}


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


def _schema_of(name: str, flt: django_filters.Filter) -> tuple[Any, dict[str, Any]]:
    """The OpenAPI type and extra schema keywords of one filter."""
    extra = flt.extra
    if isinstance(flt, filters.ListFilter | filters.ListParameter):
        items: dict[str, Any] = {"type": "string", "maxLength": extra.get("max_length", 200)}
        if extra.get("choices"):
            items = {"type": "string", "enum": list(extra["choices"])}
        return {"type": "array", "items": items}, {}
    if isinstance(flt, filters.EpochMsFilter):
        return {"type": "integer", "format": "int64", "minimum": 0, "maximum": filters.MAX_MS}, {}
    if isinstance(flt, filters.IntegerFilter):
        schema: dict[str, Any] = {"type": "integer"}
        if "min_value" in extra:
            schema["minimum"] = extra["min_value"]
        if "max_value" in extra:
            schema["maximum"] = extra["max_value"]
        return schema, {}
    if isinstance(flt, filters.IsoDateTimeFilter):
        return OpenApiTypes.DATETIME, {}
    if isinstance(flt, filters.StrictBooleanFilter):
        return OpenApiTypes.BOOL, {}
    if isinstance(flt, filters.PhoneFilter):
        return {"type": "string", "pattern": PHONE_PATTERN}, {}
    if isinstance(flt, django_filters.ChoiceFilter | filters.ChoiceParameter):
        choices = extra.get("choices") or []
        return {"type": "string", "enum": [value for value, _ in choices]}, {}
    schema = {"type": "string"}
    if extra.get("max_length"):
        schema["maxLength"] = extra["max_length"]
    if extra.get("required"):
        schema["minLength"] = 1
    return schema, {}


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
            )
        )
    return parameters


def documented_query_parameters(parameters: list[OpenApiParameter]) -> set[str]:
    return {p.name for p in parameters if p.location == OpenApiParameter.QUERY}
