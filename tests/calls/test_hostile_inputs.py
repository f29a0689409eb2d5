"""Hostile inputs: every one answers the API family's JSON 4xx naming the field, writes nothing,
and never becomes a 500 (which senders that retry server errors would repeat forever).

NUL characters, lone surrogates and non-finite numbers only broke PostgreSQL (text and jsonb
refuse them), so the PostgreSQL run of these tests is the one that proves those classes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from calls.documents import INT32_MAX
from calls.models import ActivityEvent, Call, Lead, Tenant
from calls.webhooks import sign_call_id
from config.api.parsers import JSONBodyError, parse_json_text
from config.log_redaction import RedactRequestData
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

# Placeholders json.dumps cannot write as the hostile text itself.
INF = "__1e400__"
NEG_INF = "__-1e400__"
NAN = "__NaN__"


def body_text(value: Any) -> str:
    """``value`` as JSON text; lone surrogates come out as ``\\udXXX`` escapes (ensure_ascii)
    and the placeholders as the number literals Python's json reads as inf or nan, and as
    deeply nested objects (which json.dumps itself could not write: recursion limit)."""
    text = (
        json.dumps(value)
        .replace(f'"{INF}"', "1e400")
        .replace(f'"{NEG_INF}"', "-1e400")
        .replace(f'"{NAN}"', "NaN")
    )
    return re.sub(r'"__deep(\d+)__"', lambda m: '{"a": ' * int(m[1]) + "1" + "}" * int(m[1]), text)


def nested(depth: int) -> str:
    """A placeholder ``body_text`` writes as ``{"a": {"a": ... 1}}``, ``depth`` objects deep."""
    return f"__deep{depth}__"


def row_counts() -> dict[str, int]:
    return {
        "calls": Call.objects.count(),
        "leads": Lead.objects.count(),
        "events": ActivityEvent.objects.count(),
    }


def post(client: APIClient, url: str, text: str, **headers: Any) -> Any:
    client.raise_request_exception = False
    return client.post(url, text, content_type="application/json", **headers)


def error_fields(response: Any) -> list[tuple[Any, str]]:
    return [(e.get("index"), e["field"]) for e in response.json()["errors"]]


def assert_platform_400(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["errors"], body
    return body


# (case id, change to a valid call document, the field named, caught by the JSON parser?)
# The parser names the field by its path in the body; document validation names the document's
# field, and for JSON values says where inside them in its message.
DOCUMENT_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, bool]] = [
    ("deep-nesting", lambda d: d.update(prompt_variables=nested(1000)), "prompt_variables.…", True),
    ("deep-in-list", lambda d: d.update(judge_results=[nested(100)]), "judge_results.0.…", True),
    ("nesting-past-storable", lambda d: d.update(judge_results=nested(40)), "judge_results", False),
    (
        "1e400-json-value",
        lambda d: d.update(prompt_variables={"score": INF}),
        "prompt_variables.score",
        True,
    ),
    ("-1e400-in-list", lambda d: d.update(judge_results=[1, NEG_INF]), "judge_results.1", True),
    ("NaN-literal", lambda d: d.update(prompt_variables={"x": NAN}), "prompt_variables.x", True),
    ("1e400-duration", lambda d: d.update(duration=INF), "duration", True),
    (
        "1e400-action-payload",
        lambda d: d.update(executed_actions=[{"name": "book", "result": {"amount": INF}}]),
        "executed_actions.0.result.amount",
        True,
    ),
    ("surrogate-text", lambda d: d.update(name="Ed\ud800die"), "name", True),
    (
        "surrogate-key",
        lambda d: d.update(prompt_variables={"\ud800": 1}),
        "prompt_variables.\\ud800",
        True,
    ),
    (
        "surrogate-variable",
        lambda d: d.update(collected_variables={"agent": {"city": {"value": ["\udfff"]}}}),
        "collected_variables.agent.city.value.0",
        True,
    ),
    (
        "nul-action-payload",
        lambda d: d.update(executed_actions=[{"name": "book", "result": {"note": "a\x00b"}}]),
        "executed_actions.0.result",
        False,
    ),
    (
        "nul-action-key",
        lambda d: d.update(executed_actions=[{"name": "book", "x\x00": 1}]),
        "executed_actions.0",
        False,
    ),
    (
        "nul-json-key",
        lambda d: d.update(prompt_variables={"k\x00": "v"}),
        "prompt_variables",
        False,
    ),
    ("nul-text", lambda d: d.update(lead_name="Ed\x00die"), "lead_name", False),
    ("year-1", lambda d: d.update(start_time="0001-01-01T00:00:00Z"), "start_time", False),
    (
        "year-9999-minus-14",
        lambda d: d.update(start_time="9999-12-31T23:59:59-14:00"),
        "start_time",
        False,
    ),
    (
        "year-9999-utc",
        lambda d: d.update(start_time="9999-12-31T23:59:59Z", end_time=None),
        "start_time",
        False,
    ),
    ("end-year-1", lambda d: d.update(end_time="0001-01-01T00:00:00+01:00"), "end_time", False),
    (
        "error-timestamp-year-1",
        lambda d: d.update(
            errors=[{"service": "tts", "message": "slow", "timestamp": "0001-01-01T00:00:00Z"}]
        ),
        "errors.0.timestamp",
        False,
    ),
    (
        "telephony-year-9999",
        lambda d: d.update(telephony_end="9999-12-31T23:59:59Z"),
        "telephony_end",
        False,
    ),
    (
        "century-long-call",
        lambda d: d.update(
            start_time="1970-01-01T00:00:00Z", end_time="2150-01-01T00:00:00Z", duration=None
        ),
        "end_time",
        False,
    ),
]
DOCUMENT_CASE_PARAMS = [pytest.param(*case[1:], id=case[0]) for case in DOCUMENT_CASES]


def expected_field(field: str, *, under: str = "") -> str:
    """``field`` as the error names it. ``x.…`` stands for a path into a body nested too deep
    under ``x``: the parser names it down to 12 parts (``under`` prefixed), then ``…``."""
    parts = [under, *field.split(".")] if under else field.split(".")
    if parts[-1] != "…":
        return ".".join(parts)
    parts = parts[:-1]
    return ".".join([*parts, *["a"] * (12 - len(parts)), "…"])


def hostile_doc(change: Callable[[dict[str, Any]], None], call_id: str = "bad-1") -> dict[str, Any]:
    doc = call_doc(call_id)
    change(doc)
    return doc


@pytest.mark.parametrize(("change", "field", "by_parser"), DOCUMENT_CASE_PARAMS)
def test_native_single_document(api_client, change, field, by_parser):
    response = post(api_client, "/api/v1/calls", body_text(hostile_doc(change)))

    assert_platform_400(response)
    assert (0, expected_field(field)) in error_fields(response)
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


@pytest.mark.parametrize(("change", "field", "by_parser"), DOCUMENT_CASE_PARAMS)
def test_native_batch_names_the_item(api_client, change, field, by_parser):
    batch = {"calls": [call_doc("good-1"), call_doc("good-2"), hostile_doc(change)]}

    response = post(api_client, "/api/v1/calls", body_text(batch))

    assert_platform_400(response)
    assert error_fields(response) == [(2, expected_field(field))]
    # One bad item fails the whole batch, and nothing of the good items is written either.
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


@pytest.mark.parametrize(("change", "field", "by_parser"), DOCUMENT_CASE_PARAMS)
def test_synthflow_webhook(tenant, change, field, by_parser):
    doc = hostile_doc(change)
    signature = sign_call_id(tenant.webhook_secret, doc["call_id"])

    response = post(
        APIClient(),
        f"/api/v1/webhooks/synthflow/{tenant.webhook_token}",
        body_text({"status": "completed", "call": doc}),
        HTTP_SYNTHFLOW_SIGNATURE=signature,
    )

    assert_platform_400(response)
    # The parser names the path in the webhook body; validation names the call document's field.
    if by_parser:
        assert (None, expected_field(field, under="call")) in error_fields(response)
    else:
        assert (0, expected_field(field)) in error_fields(response)
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


def test_the_last_hour_of_a_utc_plus_14_tenant_is_refused(make_client):
    kiritimati = Tenant.objects.create(name="K", slug="kiritimati", timezone="Pacific/Kiritimati")
    # 10:00 UTC on the last day Python knows is already the next year in this zone.
    doc = call_doc(start_time="9999-12-31T10:00:00Z", end_time=None)

    response = post(make_client(kiritimati), "/api/v1/calls", body_text(doc))

    assert_platform_400(response)
    assert (0, "start_time") in error_fields(response)
    assert row_counts()["calls"] == 0


def test_offsets_postgresql_cannot_parse_are_stored_as_the_same_instant(api_client):
    doc = call_doc(start_time="2026-03-02T09:00:00+23:00", end_time="2026-03-02T09:01:00+23:00")

    response = post(api_client, "/api/v1/calls", body_text(doc))

    assert response.status_code == 201, response.content[:300]
    call = Call.objects.get()
    assert call.start_time.isoformat() == "2026-03-01T10:00:00+00:00"
    assert call.duration == 60


def test_a_stored_end_far_from_a_new_start_does_not_overflow_the_duration(api_client):
    first = call_doc(start_time="2199-01-01T00:00:00Z", end_time="2199-01-01T00:02:00Z")
    assert post(api_client, "/api/v1/calls", body_text(first)).status_code == 201
    # Same call, moved back two centuries; its stored end stays and its duration is re-derived.
    second = {
        "call_id": "c-1",
        "status": "completed",
        "start_time": "1970-01-02T00:00:00Z",
        "duration": None,
    }

    response = post(api_client, "/api/v1/calls", body_text(second))

    assert response.status_code == 200, response.content[:300]
    assert Call.objects.get().duration == INT32_MAX


# --- leads ------------------------------------------------------------------------------------

LEAD = {"phone_number": "+14155552671", "name": "Eddie", "status": "new"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"name": "a\x00b"}, "name", id="nul-text"),
        pytest.param({"name": "\ud800"}, "name", id="surrogate-text"),
        pytest.param({"\udbff": "x"}, "\\udbff", id="surrogate-key"),
        pytest.param({"score": INF}, "score", id="1e400-score"),
        pytest.param({"estimated_value": NAN}, "estimated_value", id="NaN-value"),
        pytest.param({"notes": nested(500)}, expected_field("notes.…"), id="deep-nesting"),
    ],
)
def test_lead_upsert(api_client, change, field):
    response = post(api_client, "/api/v1/leads", body_text({**LEAD, **change}))

    assert_platform_400(response)
    assert (None, field) in error_fields(response)
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


def test_a_top_level_deep_array_is_refused_everywhere(tenant, api_client):
    text = "[" * 5000 + "]" * 5000
    for client, url in [
        (api_client, "/api/v1/calls"),
        (api_client, "/api/v1/leads"),
        (APIClient(), f"/api/v1/webhooks/synthflow/{tenant.webhook_token}"),
    ]:
        response = post(client, url, text)

        assert_platform_400(response)
        assert "nested deeper than 64 levels" in response.json()["detail"]
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


@pytest.mark.parametrize("text", ['"', '{"a": "b', '[["x', '"\\"'])
def test_an_unterminated_string_is_invalid_json_everywhere(tenant, api_client, text):
    for client, url in [
        (api_client, "/api/v1/calls"),
        (api_client, "/api/v1/leads"),
        (APIClient(), f"/api/v1/webhooks/synthflow/{tenant.webhook_token}"),
    ]:
        response = post(client, url, text)

        assert response.status_code == 400, (url, response.content[:200])
        assert response["Content-Type"].startswith("application/json")
    assert row_counts() == {"calls": 0, "leads": 0, "events": 0}


# --- paths ------------------------------------------------------------------------------------


def test_nul_in_a_native_call_id_path_is_a_json_404(api_client):
    api_client.raise_request_exception = False

    response = api_client.get("/api/v1/calls/a%00b")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    assert response["X-Request-ID"]


def test_nul_in_a_synthflow_call_id_path_is_a_json_404_in_synthflow_shape(api_client):
    api_client.raise_request_exception = False

    response = api_client.get("/v2/calls/a%00b")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert detail["status"] == "error"
    assert detail["category"] == "not_found"
    assert detail["request_id"] == response["X-Request-ID"]


def test_nul_in_the_webhook_token_is_a_json_404(tenant):
    doc = call_doc("wh-1")

    response = post(
        APIClient(),
        f"/api/v1/webhooks/synthflow/{tenant.webhook_token}%00",
        body_text({"status": "completed", "call": doc}),
        HTTP_SYNTHFLOW_SIGNATURE=sign_call_id(tenant.webhook_secret, "wh-1"),
    )

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    assert row_counts()["calls"] == 0


def test_an_unknown_api_path_is_a_json_404():
    client = APIClient()

    response = client.get("/api/v1/no-such-endpoint")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- unhandled exceptions and logs --------------------------------------------------------------

PHONE = "+4915758658647"
SECRET_WORDS = "my card number is four two four two"


def failing(*args: Any, **kwargs: Any) -> Any:
    # Database errors quote the offending value like this one does.
    raise RuntimeError(f"Key (phone_number)=({PHONE}) already exists: {SECRET_WORDS}")


def test_an_unhandled_ingestion_error_is_a_json_500_and_its_log_holds_no_body(
    api_client, monkeypatch, caplog
):
    monkeypatch.setattr("calls.api.views.ingest_call_documents", failing)
    doc = call_doc(lead_phone_number=PHONE, transcript=[{"role": "human", "text": SECRET_WORDS}])

    with caplog.at_level(logging.INFO):
        response = post(api_client, "/api/v1/calls", body_text(doc))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    request_id = response["X-Request-ID"]
    assert response.json() == {"detail": f"Internal server error (request id {request_id})."}
    logged = caplog.text
    assert "Internal Server Error: /api/v1/calls" in logged
    assert "RuntimeError" in logged  # the traceback keeps its frames and exception type
    assert "test_hostile_inputs.py" in logged
    assert f"request_id={request_id}" in logged
    assert PHONE not in logged
    assert SECRET_WORDS not in logged
    assert all(getattr(r, "request", None) is None for r in caplog.records)


def test_an_unhandled_error_on_v2_answers_synthflow_shape(api_client, monkeypatch):
    monkeypatch.setattr("calls.api.synthflow.queries.synthflow_call", failing)
    api_client.raise_request_exception = False

    response = api_client.get("/v2/calls/c-1")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert detail["category"] == "internal_error"
    assert detail["request_id"] == response["X-Request-ID"]


def test_an_unhandled_error_on_sales_analytics_answers_sales_shape(api_client, monkeypatch):
    monkeypatch.setattr("analytics.api.sales.queries.sales_funnel", failing)
    api_client.raise_request_exception = False

    response = api_client.get("/api/v1/analytics/funnel")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "internal_error"
    assert response["X-Request-ID"] in body["message"]


def test_exceptions_passed_as_log_arguments_lose_their_message():
    record = logging.LogRecord(
        "calls.retry",
        logging.INFO,
        __file__,
        1,
        "write lost a race (%s), retrying",
        (RuntimeError(f"Key (phone_number)=({PHONE}) already exists"),),
        None,
    )

    RedactRequestData().filter(record)

    assert PHONE not in record.getMessage()
    assert "RuntimeError" in record.getMessage()


# --- fuzzing --------------------------------------------------------------------------------

# Every character, NUL and lone surrogates included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)


def containers_of(children: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, ANY_TEXT),
    lambda children: containers_of(children, ANY_TEXT),
    max_leaves=12,
)
DEEP_VALUES = st.integers(min_value=1, max_value=1200).map(nested)
SLOTS = st.sampled_from(
    ["prompt_variables", "judge_results", "variable", "action", "error_details", "name", "id"]
)


def place(slot: str, value: Any) -> dict[str, Any]:
    if slot == "prompt_variables":
        return call_doc(prompt_variables={"v": value})
    if slot == "judge_results":
        return call_doc(judge_results=value)
    if slot == "variable":
        return call_doc(collected_variables={"agent": {"v": {"value": value}}})
    if slot == "action":
        return call_doc(executed_actions=[{"name": "act", "result": value}])
    if slot == "error_details":
        return call_doc(errors=[{"service": "llm", "message": "m", "details": {"v": value}}])
    return call_doc(**{"name" if slot == "name" else "call_id": value})


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(slot=SLOTS, value=st.one_of(JSON_VALUES, DEEP_VALUES))
def test_no_document_is_a_server_error(api_client, slot, value):
    response = post(api_client, "/api/v1/calls", body_text(place(slot, value)))

    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    if response.status_code >= 400:
        assert response.json()["errors"]


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


# Strings full of what the depth check must see through: brackets, quotes, backslashes.
TRICKY_TEXT = st.text(st.sampled_from('[]{}"\\:,aé\n'), max_size=6)
TRICKY_VALUES = st.recursive(
    st.one_of(st.none(), st.integers(), TRICKY_TEXT),
    lambda children: containers_of(children, TRICKY_TEXT),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=TRICKY_VALUES, ensure_ascii=st.booleans(), slack=st.integers(-1, 1))
def test_the_depth_limit_is_exact_whatever_the_strings_hold(value, ensure_ascii, slack):
    limit = max(depth_of(value) + slack, 0)
    text = json.dumps(value, ensure_ascii=ensure_ascii)

    if depth_of(value) > limit:
        with pytest.raises(JSONBodyError, match="nested deeper"):
            parse_json_text(text, max_depth=limit)
    else:
        assert parse_json_text(text, max_depth=limit) == value
