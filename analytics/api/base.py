"""The base of every analytics view: parameters in, one query call, the family's shape out."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.facts import one_answer
from analytics.windows import Window, iso_utc
from config.api.errors import InvalidRequest, flatten_detail
from config.api.mixins import TenantAPIView


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
        self, body: Any, *, zone: zoneinfo.ZoneInfo, window: Window, now: datetime
    ) -> Response:
        meta: dict[str, Any] = {
            "timezone": zone.key,
            "window": {"start": iso_utc(window.start), "end": iso_utc(window.end)},
            "as_of": iso_utc(now),
        }
        response = Response({**body, "meta": meta} if isinstance(body, dict) else body)
        response["X-Analytics-Timezone"] = meta["timezone"]
        response["X-Analytics-Window-Start"] = meta["window"]["start"]
        response["X-Analytics-Window-End"] = meta["window"]["end"]
        response["X-Analytics-As-Of"] = meta["as_of"]
        return response
