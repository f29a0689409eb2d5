"""The base of every analytics view: parameters in, one query call, the family's shape out."""

from __future__ import annotations

import dataclasses
import typing
import zoneinfo
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.shapes import object_schema, openapi_schema, register_component, to_wire
from analytics.facts import one_answer
from analytics.queries.validity import Source, holds_until
from analytics.windows import Drift, Window, iso_utc
from config.api.conditional import ConditionalReadMixin
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


class AnalyticsView(ConditionalReadMixin, TenantAPIView):
    """Validates the query string with ``params_class`` and renders answers with their meta.

    Every answer says which zone and window it used and how fresh it is: in a ``meta`` object
    when the endpoint's documented shape is an object, and always in ``X-Analytics-*`` headers
    (the only place left when that shape is a bare list). Its ``ETag`` holds until a write, or
    until the clock could change it (``analytics.queries.validity``): the rows placed by time
    that the answer reads are ``clock_sources``.
    """

    params_class: type[serializers.Serializer]
    cache_max_age: ClassVar[int | None] = 60
    clock_sources: ClassVar[tuple[Source, ...]] = ("calls",)
    # Whether the answer also reads the window of equal length before its own.
    compares_previous: ClassVar[bool] = False
    # Whether the answer counts the calls active now.
    counts_active: ClassVar[bool] = False

    _reads: ExitStack | None = None
    _drift = Drift()

    # The reads of one answer share a transaction (``one_answer``) that opens once the request
    # is authenticated and let through, so a 304 or a refused request runs none of it.
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self._reads = ExitStack()
        self._reads.enter_context(one_answer())

    def handle_exception(self, exc: Exception) -> Response:
        self._end_reads(exc)
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._end_reads(None)
        return super().finalize_response(request, response, *args, **kwargs)

    def _end_reads(self, exc: Exception | None) -> None:
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

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
        self._drift = params.validated_data["drift"]
        return params.validated_data, now

    def parameters_still_valid(self, request: Request) -> bool:
        # A window ending now grows past a span limit, or a bucket cap, as time passes.
        try:
            self.params(request)
        except exceptions.APIException:
            return False
        return True

    def respond(
        self, result: Any, *, zone: zoneinfo.ZoneInfo, window: Window, now: datetime
    ) -> Response:
        """``result`` (a typed result of ``analytics.queries``) on the wire, with its meta."""
        meta = AnalyticsMeta(
            timezone=zone.key,
            window=AnalyticsWindow(start=iso_utc(window.start), end=iso_utc(window.end)),
            as_of=iso_utc(now),
        )
        if self.issues_tags:
            windows = [(window, self._drift)]
            if self.compares_previous:
                windows.append((window.previous(), self._drift.previous()))
            self.answer_holds_until(
                holds_until(
                    tenant=self.tenant,
                    zone=zone,
                    now=now,
                    windows=windows,
                    sources=self.clock_sources,
                    counts_active=self.counts_active,
                )
            )
        body = to_wire(result)
        response = Response({**body, "meta": to_wire(meta)} if isinstance(body, dict) else body)
        response["X-Analytics-Timezone"] = meta.timezone
        response["X-Analytics-Window-Start"] = meta.window.start
        response["X-Analytics-Window-End"] = meta.window.end
        response["X-Analytics-As-Of"] = meta.as_of
        return response
