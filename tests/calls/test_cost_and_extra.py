"""Cost per call and fields Callscope does not model: accepted, stored, shown, filtered and
exported; nothing a document carries is dropped without a word."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from calls.documents import MAX_EXTRA_BYTES, MAX_JSON_DEPTH
from calls.models import Call, Tenant, TenantMembership
from calls.services import DocumentsInvalid, ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db


def post(api_client: Any, document: dict[str, Any]) -> Any:
    return api_client.post("/api/v1/calls", document, format="json")


def detail(api_client: Any, call_id: str = "c-1") -> dict[str, Any]:
    response = api_client.get(f"/api/v1/calls/{call_id}")
    assert response.status_code == 200
    return response.json()


def error_fields(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


# --- the native document ---------------------------------------------------------------------


def test_a_document_with_cost_and_cost_breakdown_keeps_both(api_client):
    breakdown = {"transport": 0.02, "stt": 0.01, "llm": 0.05, "vapi": 0.05, "total": 0.13}
    response = post(api_client, call_doc(cost=0.13, costBreakdown=breakdown))

    assert response.status_code == 201
    body = detail(api_client)
    assert Decimal(body["cost_usd"]) == Decimal("0.13")
    assert body["extra"] == {"costBreakdown": breakdown}


def test_cost_usd_and_breakdown_are_stored_in_usd(api_client):
    post(
        api_client,
        call_doc(
            platform="vapi",
            platform_end_reason="customer-ended-call",
            cost_usd="0.1234567",
            cost_breakdown={"stt": "0.01", "llm": 0.0523, "telephony": 0, "platform": "0.05"},
        ),
    )

    call = Call.objects.get(call_id="c-1")
    # Rounded half-even to the column's 6 places.
    assert call.cost_usd == Decimal("0.123457")
    assert call.cost_breakdown == {
        "stt": "0.010000",
        "llm": "0.052300",
        "telephony": "0.000000",
        "platform": "0.050000",
    }
    assert call.platform == "vapi"
    assert call.platform_end_reason == "customer-ended-call"
    body = detail(api_client)
    assert body["cost_breakdown"]["llm"] == "0.052300"
    assert body["platform_end_reason"] == "customer-ended-call"


def test_a_cost_breakdown_in_callscopes_components_is_read_under_its_native_name(api_client):
    post(api_client, call_doc(cost=0.3, costBreakdown={"llm": 0.2, "telephony": 0.1}))

    body = detail(api_client)
    assert body["cost_breakdown"] == {"llm": "0.200000", "telephony": "0.100000"}
    assert body["extra"] == {}


def test_cost_usd_wins_over_the_cost_alias_which_is_kept(api_client):
    post(api_client, call_doc(cost_usd="1.5", cost="2"))

    body = detail(api_client)
    assert Decimal(body["cost_usd"]) == Decimal("1.5")
    assert body["extra"] == {"cost": "2"}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (-0.01, "cost_usd"),
        ("abc", "cost_usd"),
        ("1e400", "cost_usd"),
        ("NaN", "cost_usd"),
        ("Infinity", "cost_usd"),
        (True, "cost_usd"),
        ("12345678901", "cost_usd"),
    ],
)
def test_a_bad_cost_is_a_400_naming_it_and_writes_nothing(api_client, value, field):
    response = post(api_client, call_doc(cost_usd=value))

    assert response.status_code == 400
    assert field in error_fields(response)
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    "breakdown",
    [{"vapi": 0.1}, {"llm": -1}, {"llm": "x"}, ["llm"], {"llm": {"usd": 1}}],
)
def test_a_bad_cost_breakdown_is_a_400(api_client, breakdown):
    response = post(api_client, call_doc(cost_breakdown=breakdown))

    assert response.status_code == 400
    assert "cost_breakdown" in error_fields(response)
    assert not Call.objects.exists()


def test_a_json_number_too_large_for_a_float_is_refused(api_client):
    body = json.dumps(call_doc()).replace('"call_id"', '"cost": 1e400, "call_id"', 1)
    response = api_client.post("/api/v1/calls", body, content_type="application/json")

    assert response.status_code == 400
    assert not Call.objects.exists()


def test_an_unknown_platform_is_a_400(api_client):
    response = post(api_client, call_doc(platform="acme-voice"))

    assert response.status_code == 400
    assert "platform" in error_fields(response)


# --- extra -----------------------------------------------------------------------------------


def test_unmodelled_fields_are_kept_as_sent_and_merged_by_later_documents(tenant, api_client):
    first = post(api_client, call_doc(customerTier="gold", nested={"a": [1, {"b": None}]}))
    assert first.status_code == 201

    again = post(api_client, call_doc(customerTier="gold", nested={"a": [1, {"b": None}]}))
    assert again.json()["unchanged"] == 1

    later = post(api_client, call_doc(customerTier="platinum", extra={"x": 1}))
    assert later.json()["updated"] == 1
    assert detail(api_client)["extra"] == {
        "customerTier": "platinum",
        "nested": {"a": [1, {"b": None}]},
        # A key named "extra" is a field like any other the document does not model.
        "extra": {"x": 1},
    }


def test_a_document_without_unmodelled_fields_keeps_the_stored_ones(api_client):
    post(api_client, call_doc(customerTier="gold"))
    post(api_client, call_doc(sentiment="negative"))

    assert detail(api_client)["extra"] == {"customerTier": "gold"}


@pytest.mark.parametrize(
    "value",
    [
        "bad\x00text",
        {"key\x00": 1},
    ],
)
def test_unstorable_extra_values_are_refused(api_client, value):
    response = post(api_client, call_doc(weird=value))

    assert response.status_code == 400
    assert not Call.objects.exists()


def test_a_lone_surrogate_in_an_unmodelled_field_is_refused(api_client):
    body = json.dumps(call_doc()).replace('"call_id"', '"weird": "\\ud800", "call_id"', 1)
    response = api_client.post("/api/v1/calls", body, content_type="application/json")

    assert response.status_code == 400
    assert not Call.objects.exists()


def test_extra_nested_past_the_stored_depth_is_a_400(tenant):
    deep: Any = 1
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]

    with pytest.raises(DocumentsInvalid) as caught:
        ingest_call_documents(tenant=tenant, documents=[call_doc(deep=deep)])

    assert caught.value.errors[0]["field"] == "extra"
    assert not Call.objects.exists()


def test_a_2000_deep_body_is_a_400_not_a_500(api_client):
    body = '{"call_id": "c-1", "status": "completed", "start_time": "2026-03-01T10:00:00Z", '
    body += '"deep": ' + "[" * 2000 + "]" * 2000 + "}"
    response = api_client.post("/api/v1/calls", body, content_type="application/json")

    assert response.status_code == 400
    assert not Call.objects.exists()


def test_extra_over_the_size_cap_is_a_400(api_client):
    response = post(api_client, call_doc(blob="x" * (MAX_EXTRA_BYTES + 1)))

    assert response.status_code == 400
    assert "extra" in error_fields(response)


def test_extra_that_outgrows_the_cap_by_merging_is_a_400_and_writes_nothing(api_client):
    half = "x" * (MAX_EXTRA_BYTES // 2 + 100)
    assert post(api_client, call_doc(first=half)).status_code == 201

    response = post(api_client, call_doc(second=half, sentiment="negative"))

    assert response.status_code == 400
    assert error_fields(response) == {"extra"}
    call = Call.objects.get(call_id="c-1")
    assert set(call.extra) == {"first"}
    assert call.sentiment != "negative"


def test_too_many_unmodelled_fields_are_a_400(api_client):
    response = post(api_client, call_doc(**{f"field{i}": i for i in range(101)}))

    assert response.status_code == 400
    assert "extra" in error_fields(response)


# --- reads -----------------------------------------------------------------------------------


@pytest.fixture
def costed_calls(tenant: Tenant) -> None:
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc("cheap", cost_usd="0.05"),
            call_doc("mid", cost_usd="0.50"),
            call_doc("dear", cost_usd="5"),
            call_doc("unknown"),
        ],
    )


def listed(api_client: Any, query: str) -> set[str]:
    response = api_client.get(f"/api/v1/calls?{query}")
    assert response.status_code == 200, response.json()
    return {call["call_id"] for call in response.json()["results"]}


@pytest.mark.usefixtures("costed_calls")
def test_cost_filters_bound_the_list_and_leave_out_calls_without_a_cost(api_client):
    assert listed(api_client, "cost_min=0.5") == {"mid", "dear"}
    assert listed(api_client, "cost_max=0.5") == {"cheap", "mid"}
    assert listed(api_client, "cost_min=0.06&cost_max=4.99") == {"mid"}
    assert listed(api_client, "cost_min=0") == {"cheap", "mid", "dear"}


@pytest.mark.usefixtures("costed_calls")
def test_the_list_shows_each_calls_cost(api_client):
    response = api_client.get("/api/v1/calls")
    costs = {c["call_id"]: c["cost_usd"] for c in response.json()["results"]}

    assert Decimal(costs["dear"]) == Decimal("5")
    assert costs["unknown"] is None


@pytest.mark.parametrize(
    "value", ["junk", "1e400", "-1", "NaN", "Infinity", "0.1234567", "12345678901", "1,5", " "]
)
def test_a_bad_cost_filter_is_a_400_naming_it(api_client, value):
    response = api_client.get("/api/v1/calls", {"cost_min": value})

    assert response.status_code == 400
    assert "cost_min" in response.json()["detail"]


@pytest.mark.usefixtures("costed_calls")
def test_the_csv_export_has_a_cost_column(api_client):
    response = api_client.get("/api/v1/calls/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    costs = {row["call_id"]: row["cost_usd"] for row in rows}
    assert Decimal(costs["mid"]) == Decimal("0.5")
    assert costs["unknown"] == ""


def test_another_tenants_cost_filter_sees_none_of_this_tenants_calls(
    costed_calls, other_api_client
):
    assert listed(other_api_client, "cost_min=0") == set()


# --- admin -----------------------------------------------------------------------------------


def test_the_admin_call_page_shows_cost_platform_and_extra(tenant):
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc(
                cost_usd="0.1234",
                cost_breakdown={"llm": "0.1", "tts": "0.0234"},
                platform="retell",
                platform_end_reason="user_hangup",
                customerTier="<b>gold</b>",
            )
        ],
    )
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    client = Client()
    client.force_login(user)

    call = Call.objects.get(call_id="c-1")
    page = client.get(reverse("admin:calls_call_change", args=[call.pk])).text

    assert "$0.1234" in page
    assert "llm: $0.10" in page
    assert "tts: $0.0234" in page
    assert "user_hangup" in page
    assert "customerTier" in page
    # Escaped, never markup.
    assert "&lt;b&gt;gold&lt;/b&gt;" in page
    assert "<b>gold</b>" not in page
