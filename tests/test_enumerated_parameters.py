"""An enumerated parameter given a value outside its choices is a 400 whose message lists the
valid values, in every API family (native calls, Synthflow-compatible, the three analytics
families); the live streams say it alike (tests/live/test_streams.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.api.params import PLATFORM_PERIODS
from calls import queries
from calls.api import export
from calls.enums import (
    CallPlatform,
    CallStatus,
    CallType,
    Channel,
    ErrorLevel,
    ErrorService,
    LeadSource,
    Sentiment,
)

CASES = [
    # Native call list, its export, and Synthflow's list.
    ("/api/v1/calls", {}, "status", CallStatus.values),
    ("/api/v1/calls", {}, "type", CallType.values),
    ("/api/v1/calls", {}, "channel", Channel.values),
    ("/api/v1/calls", {}, "sentiment", Sentiment.values),
    ("/api/v1/calls", {}, "platform", CallPlatform.values),
    ("/api/v1/calls", {}, "ordering", list(queries.ORDERINGS)),
    ("/api/v1/calls/export.csv", {}, "columns", list(export.COLUMNS)),
    ("/v2/calls", {"model_id": "agent-1"}, "call_status", CallStatus.values),
    # Analytics: Synthflow, voice platform, sales.
    ("/v2/analytics/", {}, "type_of_call", CallType.values),
    ("/api/v1/analytics/summary", {}, "period", list(PLATFORM_PERIODS)),
    ("/api/v1/analytics/call-volume", {}, "interval", ["hour", "day", "week"]),
    ("/api/v1/analytics/errors", {}, "service", ErrorService.values),
    ("/api/v1/analytics/errors", {}, "level", ErrorLevel.values),
    ("/api/v1/analytics/overview", {}, "granularity", ["day", "week", "month"]),
    ("/api/v1/analytics/overview", {}, "compareWith", ["previous_period", "previous_year"]),
    ("/api/v1/analytics/funnel", {}, "channel", Channel.values),
    ("/api/v1/analytics/funnel", {}, "source", LeadSource.values),
]


def message_of(body: dict[str, Any]) -> str:
    """The message of an error body of any family."""
    if "message" in body:  # sales
        return str(body["message"])
    detail = body["detail"]
    return str(detail["description"] if isinstance(detail, dict) else detail)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "base", "param", "valid"), CASES)
def test_a_value_outside_the_choices_is_a_400_listing_them(
    api_client: APIClient, url: str, base: dict[str, str], param: str, valid: list[str]
) -> None:
    response = api_client.get(url, {**base, param: "bogus"})

    assert response.status_code == 400
    message = message_of(response.json())
    assert param in message
    assert "'bogus' is not one of: " + ", ".join(valid) in message
