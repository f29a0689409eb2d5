"""The OpenAPI schema documents every analytics route, and every answer matches its documented
shape exactly: the keys it lists (no more, no fewer) and nulls only where it says nullable."""

from __future__ import annotations

import functools
import json
from datetime import date, datetime
from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.test import APIClient

from calls.models import Tenant
from tests.analytics.test_query_counts import grow

ROUTES = {
    "/v2/analytics/": "synthflow",
    "/api/v1/analytics/summary": "platform",
    "/api/v1/analytics/call-volume": "platform",
    "/api/v1/analytics/workflow-stats": "platform",
    "/api/v1/analytics/provider-latency": "platform",
    "/api/v1/analytics/errors": "platform",
    "/api/v1/analytics/active-calls": "platform",
    "/api/v1/analytics/overview": "sales",
    "/api/v1/analytics/funnel": "sales",
    "/api/v1/analytics/activity": "sales",
}
WINDOWS = {
    "synthflow": {"from_date": "2026-03-01T00:00:00Z", "to_date": "2026-03-31T00:00:00Z"},
    "platform": {"started_after": "2026-03-01T00:00:00Z", "started_before": "2026-03-31T00:00:00Z"},
    "sales": {"startDate": "2026-03-01", "endDate": "2026-03-31"},
}
EXTRA = {
    "/api/v1/analytics/overview": {"compareWith": "previous_period", "granularity": "week"},
}
BAD = {
    "synthflow": {"type_of_call": "fax"},
    "platform": {"period": "1y"},
    "sales": {"startDate": "March"},
}


@functools.cache
def _generated() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


@pytest.fixture
def openapi() -> dict[str, Any]:
    return _generated()


def strict(schema: Any, components: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as strict JSON Schema: refs inlined, ``nullable`` as a null type,
    objects closed unless they declare ``additionalProperties``."""
    if isinstance(schema, list):
        return [strict(s, components) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return strict(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    out = {k: strict(v, components) for k, v in schema.items() if k != "nullable"}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if schema.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def is_datetime(value: str) -> bool:
    try:
        return "T" in value and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def validate(body: Any, schema: dict[str, Any]) -> None:
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time")(is_datetime)
    checker.checks("date")(is_date)
    jsonschema.validate(body, schema, format_checker=checker)


def response_schema(openapi: dict[str, Any], route: str, status: int) -> dict[str, Any]:
    operation = openapi["paths"][route]["get"]
    content = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return strict(content, openapi["components"]["schemas"])


def test_the_served_schema_lists_every_analytics_route(api_client: APIClient) -> None:
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert set(ROUTES) <= set(response.json()["paths"])


def test_every_analytics_route_is_documented(openapi: dict[str, Any]) -> None:
    for route in ROUTES:
        operation = openapi["paths"][route]["get"]
        assert operation["responses"]["200"]["headers"]["X-Analytics-Timezone"]
        documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert "timezone" in documented


def test_answers_match_the_documented_shape(
    api_client: APIClient, tenant: Tenant, openapi: dict[str, Any]
) -> None:
    grow(tenant, 0, 12)
    for route, family in ROUTES.items():
        for params in ({**WINDOWS[family], **EXTRA.get(route, {})}, {"timezone": "Asia/Kolkata"}):
            response = api_client.get(route, params)
            assert response.status_code == 200, response.json()
            validate(response.json(), response_schema(openapi, route, 200))


@pytest.mark.parametrize("route", ROUTES)
def test_empty_answers_match_the_documented_shape(
    api_client: APIClient, tenant: Tenant, openapi: dict[str, Any], route: str
) -> None:
    params = {**WINDOWS[ROUTES[route]], **EXTRA.get(route, {})}
    response = api_client.get(route, params)
    validate(response.json(), response_schema(openapi, route, 200))


@pytest.mark.parametrize("route", ROUTES)
def test_errors_match_the_documented_shape(
    api_client: APIClient, openapi: dict[str, Any], route: str
) -> None:
    family = ROUTES[route]
    response = api_client.get(route, BAD[family])
    assert response.status_code == 400
    validate(response.json(), response_schema(openapi, route, 400))
    response = APIClient().get(route)
    assert response.status_code == 401
    validate(response.json(), response_schema(openapi, route, 401))
    if family == "sales":
        response = api_client.get(route, {"startDate": "2024-01-01", "endDate": "2026-01-01"})
        assert response.status_code == 422
        validate(response.json(), response_schema(openapi, route, 422))


def test_strict_validation_can_fail(openapi: dict[str, Any]) -> None:
    schema = response_schema(openapi, "/api/v1/analytics/active-calls", 200)
    meta = {
        "timezone": "UTC",
        "window": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"},
        "as_of": "2026-03-02T00:00:00Z",
    }
    validate({"count": 1, "meta": meta}, schema)
    for bad in (
        {"count": None, "meta": meta},
        {"count": 1},
        {"count": 1, "meta": meta, "x": 1},
        {"count": 1, "meta": {**meta, "as_of": "yesterday"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad, schema)


def test_the_served_schema_names_every_analytics_answer(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    body = openapi["paths"]["/v2/analytics/"]["get"]["responses"]["200"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/SynthflowAnalytics"}
    assert "meta" in schemas["SynthflowAnalytics"]["required"]
    assert "SalesOverview" in schemas and "PlatformSummary" in schemas
