"""The base of every analytics view: parameters in, one query call, the family's shape out."""

from __future__ import annotations

import dataclasses
import typing
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.shapes import object_schema, openapi_schema, register_component, to_wire
from analytics.facts import one_answer
from analytics.windows import Window, iso_utc
from config.api.errors import InvalidRequest, flatten_detail
from config.api.mixins import TenantAPIView


@dataclass(frozen=True, slots=True)
class AnalyticsWindow:
    start: str = field(metadata={"format": "date-time", "help": "Start of the window (included)."})
    end: str = field(metadata={"format": "date-time", "help": "End of the window (excluded)."})


@dataclass(frozen=True, slots=True)
class AnalyticsMeta:
    timezone: str = field(
        metadata={"help": "IANA zone of the day buckets and dates of this answer."}
    )
    window: AnalyticsWindow
    as_of: str = field(
        metadata={
            "format": "date-time",
            "help": "The answer includes every row written before this.",
        }
    )


def answer_schema(result_type: Any) -> dict[str, Any]:
    """The documented body of an answer: the result's shape, with ``meta`` when it is an
    object (``AnalyticsView.respond``), as the component named after the result."""
    if not dataclasses.is_dataclass(result_type):
        return openapi_schema(result_type)
    schema = object_schema(result_type)
    return register_component(
        typing.cast(type, result_type).__name__,
        {
            **schema,
            "properties": {**schema["properties"], "meta": openapi_schema(AnalyticsMeta)},
            "required": [*schema["required"], "meta"],
        },
    )


class AnalyticsView(TenantAPIView):
    """Validates the query string with ``params_class`` and renders answers with their meta.

    Every answer says which zone and window it used and how fresh it is: in a ``meta`` object
    when the endpoint's documented shape is an object, and always in ``X-Analytics-*`` headers
    (the only place left when that shape is a bare list).
    """

    params_class: type[serializers.Serializer]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with one_answer():
            return super().dispatch(request, *args, **kwargs)

    def params(self, request: Request) -> tuple[dict[str, Any], datetime]:
        """The validated parameters and the ``now`` they were resolved against."""
        now = timezone.now()
        # A plain dict, not the QueryDict: DRF reads a blank value in a QueryDict as "absent",
        # and "?timezone=" is a malformed parameter, not a missing one.
        params = self.params_class(
            data=request.query_params.dict(), context={"tenant": self.tenant, "now": now}
        )
        if not params.is_valid():
            raise InvalidRequest(flatten_detail(params.errors))
        return params.validated_data, now

    def respond(
        self, result: Any, *, zone: zoneinfo.ZoneInfo, window: Window, now: datetime
    ) -> Response:
        """``result`` (a typed result of ``analytics.queries``) on the wire, with its meta."""
        meta = AnalyticsMeta(
            timezone=zone.key,
            window=AnalyticsWindow(start=iso_utc(window.start), end=iso_utc(window.end)),
            as_of=iso_utc(now),
        )
        body = to_wire(result)
        response = Response({**body, "meta": to_wire(meta)} if isinstance(body, dict) else body)
        response["X-Analytics-Timezone"] = meta.timezone
        response["X-Analytics-Window-Start"] = meta.window.start
        response["X-Analytics-Window-End"] = meta.window.end
        response["X-Analytics-As-Of"] = meta.as_of
        return response
