"""The OpenAPI schema documents every API route, and the API keeps what the schema promises.

The route walk and the fuzzing read the URLconf and the schema at run time, so endpoints added
later (analytics included) are covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from calls.api import filters
from calls.api.native import CallExportView
from calls.api.synthflow import SynthflowCallListView
from calls.api.views import CallCollectionView
from calls.keys import create_api_key
from calls.services import ingest_call_documents
from tests.calls.factories import SYNTHFLOW_DOC, call_doc

API_PREFIXES = ("api/", "v2/")
NOT_DOCUMENTED = {"api/schema/", "api/docs/"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(route, callback)`` of every URL pattern, includes flattened."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def api_routes() -> list[tuple[str, Any]]:
    return [
        (route, callback)
        for route, callback in walk(get_resolver().url_patterns)
        if route.startswith(API_PREFIXES) and route not in NOT_DOCUMENTED
    ]


def openapi_path(route: str) -> str:
    """``api/v1/calls/<str:call_id>`` → ``/api/v1/calls/{call_id}``."""
    if route.startswith("^"):  # a regex route: strip anchors and named groups
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.strip("^$"))
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_route_walk_sees_the_call_apis():
    routes = {route for route, _ in api_routes()}

    assert {"api/v1/calls", "api/v1/calls/<str:call_id>", "v2/calls"} <= routes


def test_every_api_route_and_method_is_in_the_schema(openapi):
    missing = []
    for route, callback in api_routes():
        path = openapi_path(route)
        view_class = getattr(callback, "cls", None)
        methods = [m for m in HTTP_METHODS if view_class and hasattr(view_class, m)] or ["get"]
        documented = openapi["paths"].get(path, {})
        missing.extend(f"{m.upper()} {path}" for m in methods if m not in documented)

    assert not missing, f"routes missing from the OpenAPI schema: {missing}"


def test_schema_is_valid_and_generates_without_warnings(tmp_path):
    # --fail-on-warn: an undocumentable view, an unresolved serializer or an enum collision
    # fails here rather than degrading the docs silently.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )


def test_every_operation_documents_its_error_bodies(openapi):
    problems = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.get("responses", {})
            if operation.get("security") != [] and "401" not in responses:
                problems.append(f"{method.upper()} {path}: no 401")
            if "400" not in responses:
                problems.append(f"{method.upper()} {path}: no 400")
            for code, response in responses.items():
                if code.startswith(("4", "5")) and not response.get("content"):
                    problems.append(f"{method.upper()} {path}: {code} has no body")

    assert not problems, problems


@pytest.mark.parametrize(
    ("path", "filterset", "extra"),
    [
        ("/v2/calls", filters.SynthflowCallFilterSet, set()),
        ("/api/v1/calls", filters.CallListFilterSet, set()),
        ("/api/v1/calls/export.csv", filters.CallExportFilterSet, set()),
    ],
)
def test_documented_query_parameters_are_exactly_the_accepted_ones(openapi, path, filterset, extra):
    parameters = openapi["paths"][path]["get"]["parameters"]
    documented = {p["name"] for p in parameters if p["in"] == "query"}

    assert documented == filterset.accepted_parameters() | extra


def test_read_views_use_the_strict_filtersets():
    assert SynthflowCallListView.filterset_class is filters.SynthflowCallFilterSet
    assert CallExportView.filterset_class is filters.CallExportFilterSet
    assert hasattr(CallCollectionView, "get")


def test_schema_and_docs_are_served_without_a_key(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert "/v2/calls" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_operations_require_the_bearer_key(openapi):
    assert openapi["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A Callscope API key: `Authorization: Bearer cs_…`.",
    }
    assert openapi["paths"]["/v2/calls"]["get"]["security"] == [{"apiKey": []}]


# --- fuzzing ---------------------------------------------------------------------------------

FUZZ_EXAMPLES = 25
FUZZ_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def in_process_requests():
    """Requests through the WSGI handler inside the test transaction: the handler's
    "close old connections" signal would end that transaction (Django's test client disconnects
    it the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tenant(tenant, settings):
    # The per-tenant throttle is tested on its own; here it would only turn cases into 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": None},
    }
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc("c-1", labels=["vip"]),
            call_doc("c-2", status="failed", start_time="2026-03-02T10:00:00Z", end_time=None),
            {**SYNTHFLOW_DOC, "model_id": "agent-1"},
        ],
    )
    return tenant


def fuzz_operation(operation: Any, app: Any, headers: dict[str, str], **fixed: Any) -> None:
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, **fixed)

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(app=app, headers=headers)
            case.validate_response(response, checks=FUZZ_CHECKS)

        run()


def test_fuzz_every_operation(fuzz_tenant, in_process_requests, openapi):
    """Every operation of the schema, with generated valid and invalid inputs and a valid key:
    no server error, and every response (status, content type, body) as documented."""
    _, raw = create_api_key(tenant=fuzz_tenant, name="fuzz")
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_dict(openapi)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7

    for operation in operations:
        fuzz_operation(operation, in_process_requests, headers)
        names = {p.name for p in operation.path_parameters}
        # Known ids too, so the 200 bodies of the detail views are fuzzed, not only 404s.
        if "call_id" in names:
            for call_id in ("c-1", SYNTHFLOW_DOC["call_id"]):
                fuzz_operation(
                    operation, in_process_requests, headers, path_parameters={"call_id": call_id}
                )
        if "token" in names:
            fuzz_operation(
                operation,
                in_process_requests,
                headers,
                path_parameters={"token": fuzz_tenant.webhook_token},
            )
