"""The OpenAPI document says what the server does: the parameter and body rules the fuzzing in
``tests/test_schema.py`` holds the server to, checked here one by one."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from config.api.params import time_zone_names

pytestmark = pytest.mark.django_db

READS = (
    "/v2/calls",
    "/v2/calls/{call_id}",
    "/v2/analytics/",
    "/api/v1/calls",
    "/api/v1/calls/{call_id}",
    "/api/v1/calls/export.csv",
    "/api/v1/analytics/summary",
    "/api/v1/analytics/overview",
)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def parameter(openapi: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found


@pytest.mark.parametrize("path", READS)
def test_every_read_documents_the_errors_it_can_answer(openapi, path):
    responses = openapi["paths"][path]["get"]["responses"]

    assert {"400", "401", "413", "429", "503"} <= set(responses)
    assert ("404" in responses) == ("{call_id}" in path)


@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/leads"])
def test_writes_document_a_required_body_with_its_required_fields(openapi, path):
    body = openapi["paths"][path]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]

    assert body["required"] is True
    if path == "/api/v1/calls":
        document, batch = schema["anyOf"]
        assert document["required"] == ["call_id", "status", "start_time"]
        assert batch["properties"]["calls"]["maxItems"] == 1000
    else:
        assert [alternative["required"] for alternative in schema["anyOf"]] == [
            ["lead_id"],
            ["phone_number"],
        ]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/calls/export.csv", "timezone"),
        ("/api/v1/analytics/summary", "timezone"),
        ("/v2/analytics/", "timezone"),
    ],
)
def test_time_zones_are_documented_as_the_names_the_server_takes(openapi, path, name):
    assert parameter(openapi, path, name)["schema"]["enum"] == list(time_zone_names())


def test_an_export_time_zone_outside_the_zone_database_is_400(tenant, api_client):
    # ``ZoneInfo`` would open these files too, but they are no zone names.
    for name in ("posixrules", "right/UTC"):
        response = api_client.get("/api/v1/calls/export.csv", {"timezone": name})

        assert response.status_code == 400, name
        assert "timezone" in response.json()["detail"]
    allowed = api_client.get("/api/v1/calls/export.csv", {"timezone": "Europe/Berlin"})
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    "value", ["0937-08-10T12:24:42Z", "2201-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"]
)
def test_call_filter_instants_outside_the_documented_years_are_400(tenant, api_client, value):
    response = api_client.get("/api/v1/calls", {"started_after": value})

    assert response.status_code == 400
    assert "started_after" in response.json()["detail"]


def test_call_filter_instants_take_the_documented_years(openapi, tenant, api_client):
    schema = parameter(openapi, "/api/v1/calls", "started_after")["schema"]

    assert schema["pattern"] == r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-"
    for value in ("1900-01-01T00:00:00+14:00", "2200-12-31T23:59:59Z"):
        assert api_client.get("/api/v1/calls", {"started_after": value}).status_code == 200


@pytest.mark.parametrize("name", ["duration_min", "started_after", "lead_phone", "success"])
def test_an_optional_filter_sent_empty_is_documented_as_allowed(openapi, api_client, name):
    response = api_client.get(f"/api/v1/calls?{name}=")

    assert response.status_code == 200
    assert parameter(openapi, "/api/v1/calls", name)["allowEmptyValue"] is True


def test_list_values_document_that_nul_and_commas_are_refused(openapi, tenant, api_client):
    schema = parameter(openapi, "/api/v1/calls", "workflow")["schema"]

    assert schema["items"]["pattern"] == r"^[^\x00,]*$"
    assert api_client.get("/api/v1/calls", {"workflow": "a\x00b"}).status_code == 400
    # A comma separates values: 19 values and one holding a comma are 21 values, over the cap,
    # which is why the schema's values hold no comma.
    within_cap = [f"w{i}" for i in range(schema["maxItems"] - 1)]
    assert api_client.get("/api/v1/calls", {"workflow": [*within_cap, "x"]}).status_code == 200
    assert api_client.get("/api/v1/calls", {"workflow": [*within_cap, "x,y"]}).status_code == 400


def test_activity_types_are_a_comma_separated_list_of_known_types(openapi, tenant, api_client):
    documented = parameter(openapi, "/api/v1/analytics/activity", "type")

    assert documented["explode"] is False
    assert documented["schema"]["type"] == "array"
    types = ",".join(documented["schema"]["items"]["enum"][:2])
    assert api_client.get("/api/v1/analytics/activity", {"type": types}).status_code == 200


def test_a_body_over_the_limit_is_413_in_the_operations_own_error_shape(
    tenant, api_client, settings
):
    settings.MAX_REQUEST_BODY_BYTES = 10
    body = "x" * 11

    sales = api_client.generic("GET", "/api/v1/analytics/overview", body, "text/plain")
    native = api_client.generic("GET", "/api/v1/calls", body, "text/plain")
    synthflow = api_client.generic("GET", "/v2/calls?model_id=a", body, "text/plain")

    assert sales.status_code == native.status_code == synthflow.status_code == 413
    assert set(sales.json()) == {"error", "message"}
    assert "detail" in native.json() and isinstance(native.json()["detail"], str)
    assert synthflow.json()["detail"]["category"] == "payload_too_large"
