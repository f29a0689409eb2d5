"""POST /api/v1/leads: upsert, forward-only status, stage stamps."""

from __future__ import annotations

import pytest

from calls.models import ActivityEvent, Lead

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads"


def test_creates_a_lead_with_a_generated_id(api_client, tenant):
    response = api_client.post(URL, {"phone_number": "+14155552671", "name": "Ada"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["lead_id"].startswith("lead_")
    assert body["created"] is True
    lead = Lead.objects.get(tenant=tenant)
    assert (lead.lead_id, lead.name, lead.status) == (body["lead_id"], "Ada", "new")
    assert ActivityEvent.objects.filter(type="lead.created", lead=lead).count() == 1


def test_matches_by_phone_and_moves_only_forward(api_client):
    api_client.post(URL, {"phone_number": "+14155552671", "status": "demo_booked"}, format="json")

    back = api_client.post(
        URL, {"phone_number": "+14155552671", "status": "qualified"}, format="json"
    )

    assert back.status_code == 200
    assert back.json()["status"] == "demo_booked"
    lead = Lead.objects.get()
    assert lead.qualified_at is not None and lead.qualified_at == lead.demo_booked_at
    assert lead.converted_at is None


def test_lost_ends_progress(api_client):
    api_client.post(URL, {"lead_id": "lead_A", "status": "qualified"}, format="json")
    api_client.post(URL, {"lead_id": "lead_A", "status": "lost"}, format="json")

    response = api_client.post(URL, {"lead_id": "lead_A", "status": "converted"}, format="json")

    assert response.json()["status"] == "lost"
    assert Lead.objects.get().converted_at is None


def test_score_move_of_fifteen_writes_an_event(api_client):
    api_client.post(URL, {"lead_id": "lead_A", "score": 10}, format="json")
    api_client.post(URL, {"lead_id": "lead_A", "score": 25}, format="json")

    event = ActivityEvent.objects.get(type="lead.score_changed")
    assert event.metadata == {"scoreChange": {"from": 10, "to": 25}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "no id or phone"}, "(document)"),
        ({"lead_id": "lead_A", "score": 101}, "score"),
        ({"lead_id": "lead_A", "phone_number": "0151 123"}, "phone_number"),
        ({"lead_id": "lead_A", "status": "won"}, "status"),
    ],
)
def test_invalid_leads_are_400(api_client, body, field):
    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert Lead.objects.count() == 0


def test_other_tenants_lead_is_not_matched(api_client, other_api_client, tenant, other_tenant):
    api_client.post(URL, {"lead_id": "lead_A", "status": "qualified"}, format="json")

    response = other_api_client.post(URL, {"lead_id": "lead_A"}, format="json")

    assert response.json()["created"] is True
    assert Lead.objects.get(tenant=other_tenant).status == "new"
