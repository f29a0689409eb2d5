"""Malformed parameters: 400 (or 422 for sales spans) in each family's error body; 401 without a
key; never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from calls.models import Tenant

SYNTHFLOW = "/v2/analytics/"
PLATFORM = [
    "/api/v1/analytics/summary",
    "/api/v1/analytics/call-volume",
    "/api/v1/analytics/workflow-stats",
    "/api/v1/analytics/provider-latency",
    "/api/v1/analytics/errors",
    "/api/v1/analytics/active-calls",
]
SALES = [
    "/api/v1/analytics/overview",
    "/api/v1/analytics/funnel",
    "/api/v1/analytics/activity",
]
ALL = [SYNTHFLOW, *PLATFORM, *SALES]


def assert_synthflow_error(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert set(detail) == {"status", "description", "request_id", "category"}
    assert detail["status"] == "error"
    assert detail["category"] == {400: "bad_request", 401: "unauthorized"}[status]
    assert detail["request_id"] == response["X-Request-ID"]


def assert_platform_error(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str)


def assert_sales_error(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message"}
    assert (
        body["error"] == {400: "invalid_request", 401: "unauthorized", 422: "unprocessable"}[status]
    )


@pytest.mark.parametrize("url", ALL)
def test_unauthenticated_requests_get_401_in_the_family_shape(url: str, db: Any) -> None:
    response = APIClient().get(url)
    if url == SYNTHFLOW:
        assert_synthflow_error(response, 401)
    elif url in PLATFORM:
        assert_platform_error(response, 401)
    else:
        assert_sales_error(response, 401)


@pytest.mark.parametrize("url", ALL)
@pytest.mark.parametrize(
    "params",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"timezone": "+01:00"},
        {"unknown": "1"},
    ],
)
def test_bad_timezone_or_unknown_parameter(
    api_client: APIClient, url: str, params: dict[str, str]
) -> None:
    response = api_client.get(url, params)
    if url == SYNTHFLOW:
        assert_synthflow_error(response)
    elif url in PLATFORM:
        assert_platform_error(response)
    else:
        assert_sales_error(response)


@pytest.mark.parametrize(
    "params",
    [
        {"from_date": "yesterday"},
        {"to_date": "2026-02-30T00:00:00Z"},
        {"from_date": "0001-01-01T00:00:00Z"},
        {"from_date": "9999-12-31T23:59:59Z", "to_date": "9999-12-31T23:59:59Z"},
        {"from_date": "2026-03-05T00:00:00Z", "to_date": "2026-03-01T00:00:00Z"},
        {"from_date": "2026-03-01T00:00:00Z", "to_date": "2026-03-01T00:00:00Z"},
        {"from_date": "2026-01-01T00:00:00Z", "to_date": "2026-05-01T00:00:01Z"},  # > 120 days
        {"type_of_call": "carrier_pigeon"},
        {"model_id": ""},
        {"model_id": "x" * 101},
        {"model_id": "nul\x00byte"},
    ],
)
def test_synthflow_malformed_parameters(api_client: APIClient, params: dict[str, str]) -> None:
    assert_synthflow_error(api_client.get(SYNTHFLOW, params))


def test_synthflow_120_days_is_allowed(api_client: APIClient) -> None:
    response = api_client.get(
        SYNTHFLOW, {"from_date": "2026-01-01T00:00:00Z", "to_date": "2026-05-01T00:00:00Z"}
    )
    assert response.status_code == 200
    assert len(response.json()["duration_metrics"]["series"]) == 120


@pytest.mark.parametrize("url", PLATFORM)
@pytest.mark.parametrize(
    "params",
    [
        {"period": "2h"},
        {"started_after": "not-a-date"},
        {"started_after": "2026-03-02T00:00:00Z", "started_before": "2026-03-01T00:00:00Z"},
        {"started_before": "1800-01-01T00:00:00Z"},
    ],
)
def test_platform_malformed_window(api_client: APIClient, url: str, params: dict[str, str]) -> None:
    assert_platform_error(api_client.get(url, params))


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("call-volume", {"interval": "minute"}),
        (
            "call-volume",
            {"started_after": "2024-01-01T00:00:00Z", "started_before": "2026-01-01T00:00:00Z"},
        ),  # 17,520 hourly buckets
        ("workflow-stats", {"limit": "0"}),
        ("workflow-stats", {"limit": "51"}),
        ("workflow-stats", {"limit": "ten"}),
        ("errors", {"service": "database"}),
        ("errors", {"level": "fatal"}),
        ("errors", {"offset": "-1"}),
        ("errors", {"offset": "99999999999999999999999"}),
        ("errors", {"limit": "201"}),
        ("errors", {"limit": "0"}),
    ],
)
def test_platform_malformed_options(
    api_client: APIClient, url: str, params: dict[str, str]
) -> None:
    assert_platform_error(api_client.get("/api/v1/analytics/" + url, params))


def test_platform_limits_at_their_maximum_are_fine(api_client: APIClient) -> None:
    assert api_client.get("/api/v1/analytics/workflow-stats", {"limit": 50}).status_code == 200
    assert api_client.get("/api/v1/analytics/errors", {"limit": 200}).status_code == 200
    long_days = {"interval": "day", "started_after": "2000-01-01T00:00:00Z"}
    assert api_client.get("/api/v1/analytics/call-volume", long_days).status_code == 200


@pytest.mark.parametrize("url", SALES)
@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "03/01/2026"},
        {"startDate": "2026-03-01T00:00:00Z"},
        {"endDate": "2026-02-30"},
        {"startDate": "2026-03-10", "endDate": "2026-03-01"},
        {"startDate": "1000-01-01", "endDate": "1000-01-02"},
    ],
)
def test_sales_malformed_dates(api_client: APIClient, url: str, params: dict[str, str]) -> None:
    assert_sales_error(api_client.get(url, params))


@pytest.mark.parametrize("url", SALES)
def test_sales_span_over_365_days_is_422(api_client: APIClient, url: str) -> None:
    too_long = {"startDate": "2025-01-01", "endDate": "2026-01-02"}
    assert_sales_error(api_client.get(url, too_long), 422)
    longest = {"startDate": "2025-01-01", "endDate": "2026-01-01"}
    assert api_client.get(url, longest).status_code == 200


def test_activity_start_alone_over_365_days_ago_is_422(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/analytics/activity", {"startDate": "2020-01-01"})
    assert_sales_error(response, 422)


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("overview", {"granularity": "year"}),
        ("overview", {"compareWith": "last_decade"}),
        ("funnel", {"channel": "fax"}),
        ("funnel", {"source": "rumour"}),
        ("activity", {"type": "lead.created,lead.exploded"}),
        ("activity", {"type": ","}),
        ("activity", {"page": "0"}),
        ("activity", {"limit": "101"}),
        ("activity", {"limit": "0"}),
        ("activity", {"leadId": "x" * 65}),
    ],
)
def test_sales_malformed_options(api_client: APIClient, url: str, params: dict[str, str]) -> None:
    assert_sales_error(api_client.get("/api/v1/analytics/" + url, params))


def test_error_message_names_the_parameter(api_client: APIClient, tenant: Tenant) -> None:
    body = api_client.get("/api/v1/analytics/errors", {"level": "fatal"}).json()
    assert body["detail"].startswith("level:")
    body = api_client.get("/api/v1/analytics/summary", {"bogus": "1", "other": "2"}).json()
    # The names it does take follow, so a misspelt parameter leads to the right one.
    assert body["detail"] == (
        "Unknown parameter(s): 'bogus', 'other'. "
        "Accepted: period, started_after, started_before, timezone."
    )


def test_several_errors_read_as_one_sentence(api_client: APIClient, tenant: Tenant) -> None:
    body = api_client.get(
        "/api/v1/analytics/summary", {"period": "bogus", "timezone": "Mars/Base"}
    ).json()

    assert ".;" not in body["detail"]
    assert "period: 'bogus' is not one of: " in body["detail"]
    assert "timezone: " in body["detail"]


def test_an_unknown_call_filter_lists_the_accepted_ones(api_client: APIClient) -> None:
    body = api_client.get("/api/v1/calls", {"order": "-start_time"}).json()

    assert body["detail"].startswith("Unknown parameter(s): 'order'. Accepted: ")
    assert "ordering" in body["detail"] and "var.<name>" in body["detail"]
    assert body["errors"][0]["field"] == "order"


def test_synthflow_120_local_days_across_dst_are_allowed(api_client: APIClient) -> None:
    # 120 Berlin days over the October change last 120 days and one hour.
    params = {
        "from_date": "2026-07-25T00:00:00+02:00",
        "to_date": "2026-11-22T00:00:00+01:00",
        "timezone": "Europe/Berlin",
    }
    response = api_client.get(SYNTHFLOW, params)
    assert response.status_code == 200
    assert len(response.json()["duration_metrics"]["series"]) == 120
    response = api_client.get(SYNTHFLOW, {**params, "to_date": "2026-11-22T00:00:01+01:00"})
    assert_synthflow_error(response)
