"""The OpenAPI schema documents every API route, and the API keeps what the schema promises.

The route walk and the fuzzing read the URLconf and the schema at run time, so endpoints added
later (analytics included) are covered without touching this file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.formats import unregister_string_format

from calls.api import filters
from calls.api.native import CallExportView
from calls.api.synthflow import SynthflowCallListView
from calls.api.views import CallCollectionView
from calls.keys import create_api_key
from calls.services import ingest_call_documents
from tests.calls.factories import SYNTHFLOW_DOC, call_doc

API_PREFIXES = ("api/", "v2/")
NOT_DOCUMENTED = {"api/schema/", "api/docs/", "api/redoc/"}
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
    """``api/v1/calls/<id:call_id>`` → ``/api/v1/calls/{call_id}``."""
    if route.startswith("^"):  # a regex route: strip anchors and named groups
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.strip("^$"))
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_route_walk_sees_the_call_apis():
    routes = {route for route, _ in api_routes()}

    assert {"api/v1/calls", "api/v1/calls/<id:call_id>", "v2/calls"} <= routes


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


def test_every_operation_taking_a_key_documents_the_scope_refusal(openapi):
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and any("apiKey" in scheme for scheme in operation.get("security", []))
        and "403" not in operation["responses"]
    ]

    assert not undocumented


@pytest.mark.parametrize(
    ("path", "key", "fields"),
    [
        ("/api/v1/agents", "model_id", {"model_id", "name", "type", "call_count", "last_call_at"}),
        ("/api/v1/workflows", "slug", {"slug", "name", "call_count", "last_call_at"}),
    ],
)
def test_the_agent_and_workflow_lists_are_documented(openapi, path, key, fields):
    operation = openapi["paths"][path]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    components = openapi["components"]["schemas"]
    page_schema = components[page["$ref"].rsplit("/", 1)[1]]
    item_ref = page_schema["properties"]["results"]["items"]["$ref"]
    item = components[item_ref.rsplit("/", 1)[1]]

    assert set(parameters) == {"search", "limit", "cursor"}
    assert parameters["limit"]["maximum"] == 200
    assert {"next", "previous", "results"} == set(page_schema["properties"])
    assert set(item["properties"]) == fields
    assert item["properties"]["last_call_at"]["nullable"] is True
    assert f"`{key}`" in operation["description"]


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

# Examples per operation and generation mode: enough for the suite to catch a drifting document in
# about a minute. ``CALLSCOPE_FUZZ_EXAMPLES=500`` runs the same test much deeper.
FUZZ_EXAMPLES = int(os.environ.get("CALLSCOPE_FUZZ_EXAMPLES", "5"))
# Every built-in check, by name so that a renamed or dropped one fails here rather than silently.
FUZZ_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
)
# The one rule between parameters JSON Schema cannot state: a window starts before it ends.
WINDOW_BOUNDS = (("started_after", "started_before"), ("from_date", "to_date"))
DAY_BOUNDS = (("startDate", "endDate"),)


def fuzz_checks() -> list[Any]:
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    by_name = {check.__name__: check for check in CHECKS.get_all()}
    return [by_name[name] for name in FUZZ_CHECKS]


def respects_window_order(case: Any) -> bool:
    """A schema-valid ``case`` whose window bounds are also in order (else a 400 is right)."""
    query = case.query or {}
    # A bare date is the start of that day in the request's zone (the fuzz tenant's is UTC).
    zone = ZoneInfo(str(query.get("timezone") or "UTC"))
    for lower, upper in WINDOW_BOUNDS + DAY_BOUNDS:
        if lower in query and upper in query:
            try:
                first, last = (datetime.fromisoformat(str(query[k])) for k in (lower, upper))
            except ValueError:
                return True  # bounds of another kind (ms epoch): no order rule
            first, last = (
                t if t.tzinfo else t.replace(tzinfo=zone if len(str(query[k])) == 10 else UTC)
                for t, k in ((first, lower), (last, upper))
            )
            if first > last or (first == last and (lower, upper) not in DAY_BOUNDS):
                return False
    return True


@pytest.fixture
def recent_times():
    """Generated dates and datetimes lie in the last 90 days: every window bound the schema
    allows is valid on its own, but a window must also end after it starts, lie in the past
    when it has one bound, and span at most 120 days (Synthflow), 365 days (sales) or 10,000
    buckets (call volume), which a schema cannot say; recent times meet all of these but the
    order of two bounds (``respects_window_order``)."""
    now = datetime.now(UTC).replace(microsecond=0)
    instants = st.datetimes(
        min_value=(now - timedelta(days=90)).replace(tzinfo=None),
        max_value=(now - timedelta(minutes=1)).replace(tzinfo=None),
        timezones=st.just(UTC),
    )
    schemathesis.openapi.format("date-time", instants.map(lambda t: t.isoformat()))
    schemathesis.openapi.format("date", instants.map(lambda t: t.date().isoformat()))
    try:
        yield
    finally:
        unregister_string_format("date-time")
        unregister_string_format("date")


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


def without_cursor(case: Any) -> Any:
    # A cursor is opaque and signed: only the server makes valid ones (tests/calls/
    # test_api_cursors.py covers them), so a valid request carries none.
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case


# The ingestion body documents what every call must carry and that unknown keys are ignored;
# the other fields of a call document are ``calls/documents.py``'s (tested in
# tests/calls/test_ingestion.py), so generated values for them are no valid calls. A valid lead
# is refused when an earlier generated lead (another ``lead_id``) already holds its phone: a
# rule between requests, not one a schema can state (tests/calls/test_lead_phone_unique.py).
POSITIVE_CHECK_SKIPPED = {
    "POST /api/v1/calls": "positive_data_acceptance",
    "POST /api/v1/leads": "positive_data_acceptance",
}


def fuzz_operation(operation: Any, **fixed: Any) -> None:
    skipped = POSITIVE_CHECK_SKIPPED.get(operation.label)
    checks = [check for check in fuzz_checks() if check.__name__ != skipped]
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, **fixed)
        if mode == schemathesis.GenerationMode.POSITIVE:
            strategy = strategy.map(without_cursor).filter(respects_window_order)

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            # The in-process transport hands the body over as sent, without undoing a gzip
            # content coding its default Accept-Encoding asked for (tests/test_conditional_reads.py
            # covers compression).
            response = case.call(headers={"Accept-Encoding": "identity"})
            case.validate_response(response, checks=checks)

        run()


def test_fuzz_every_operation(fuzz_tenant, in_process_requests, recent_times, openapi):
    """Every operation of the schema, with generated valid and invalid inputs and a valid key,
    under every check: no server error; every response (status, content type, headers, body) as
    documented; every schema-valid request accepted and every schema-violating one refused;
    and no answer without the key."""
    _, raw = create_api_key(tenant=fuzz_tenant, name="fuzz")
    schema = schemathesis.openapi.from_dict(openapi)
    schema.app = in_process_requests

    # Through schemathesis' auth, so that a case generated without or with a broken key (a
    # negative one) is sent that way instead of having a valid key put back.
    @schema.auth()
    class ApiKey:
        def get(self, case: Any, context: Any) -> str:
            return raw

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7

    for operation in operations:
        fuzz_operation(operation)
        names = {p.name for p in operation.path_parameters}
        # Known ids too, so the 200 bodies of the detail views are fuzzed, not only 404s.
        if "call_id" in names:
            for call_id in ("c-1", SYNTHFLOW_DOC["call_id"]):
                fuzz_operation(operation, path_parameters={"call_id": call_id})
        if "token" in names:
            fuzz_operation(operation, path_parameters={"token": fuzz_tenant.webhook_token})
