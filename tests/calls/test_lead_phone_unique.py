"""One lead per phone: the constraint, a lost insert race converging on the committed lead, and
writes that would give a lead another lead's phone."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from calls import leads as leads_module
from calls.demo import plan as demo_plan
from calls.demo.writer import seed_demo
from calls.documents import LeadIn
from calls.leads import lead_upsert
from calls.models import ActivityEvent, Call, Lead
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db
PHONE = "+14155552671"
OTHER_PHONE = "+14155552672"


def test_a_tenant_cannot_have_two_leads_with_one_phone(tenant, other_tenant):
    Lead.objects.create(tenant=tenant, lead_id="lead_A", phone_number=PHONE)
    # Other tenants and leads without a phone are not constrained.
    Lead.objects.create(tenant=other_tenant, lead_id="lead_A", phone_number=PHONE)
    Lead.objects.create(tenant=tenant, lead_id="lead_B", phone_number="")
    Lead.objects.create(tenant=tenant, lead_id="lead_C", phone_number="")

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(tenant=tenant, lead_id="lead_D", phone_number=PHONE)


def _first_lookup_misses():
    """``find_lead`` as seen by a writer that looked before a concurrent writer committed the
    lead: the first lookup finds nothing, later ones see the committed lead."""
    real = leads_module.find_lead
    calls = []

    def find_lead(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real(**kwargs)

    return mock.patch.object(leads_module, "find_lead", side_effect=find_lead)


def test_a_lead_that_loses_the_insert_race_updates_the_committed_lead(tenant):
    committed = Lead.objects.create(
        tenant=tenant, lead_id="lead_FIRST", phone_number=PHONE, score=10
    )

    with _first_lookup_misses():
        result = lead_upsert(
            tenant=tenant,
            data=LeadIn(phone_number=PHONE, name="Ada", status="qualified", score=50),
        )

    assert result.created is False
    assert result.lead.pk == committed.pk
    lead = Lead.objects.get(tenant=tenant)
    assert (lead.lead_id, lead.name, lead.status, lead.score) == (
        "lead_FIRST",
        "Ada",
        "qualified",
        50,
    )
    assert lead.qualified_at is not None
    types = sorted(ActivityEvent.objects.filter(lead=lead).values_list("type", flat=True))
    assert types == ["lead.qualified", "lead.score_changed"]


def test_a_call_whose_lead_loses_the_insert_race_links_the_committed_lead(api_client, tenant):
    committed = Lead.objects.create(tenant=tenant, lead_id="lead_FIRST", phone_number=PHONE)

    with _first_lookup_misses():
        response = api_client.post(
            "/api/v1/calls",
            call_doc("c-1", lead={"phone_number": PHONE, "status": "qualified"}),
            format="json",
        )

    assert response.status_code == 201
    assert Lead.objects.filter(tenant=tenant).count() == 1
    assert Call.objects.get(tenant=tenant).lead_id == committed.pk
    assert not ActivityEvent.objects.filter(type="lead.created").exists()
    assert ActivityEvent.objects.filter(type="lead.qualified", lead=committed).count() == 1


def test_giving_a_lead_another_leads_phone_is_400(api_client, tenant):
    Lead.objects.create(tenant=tenant, lead_id="lead_A", phone_number=PHONE)
    Lead.objects.create(tenant=tenant, lead_id="lead_B", phone_number=OTHER_PHONE)

    response = api_client.post(
        "/api/v1/leads", {"lead_id": "lead_B", "phone_number": PHONE}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "phone_number", "message": f"{PHONE} is the phone number of lead lead_A"}
    ]
    assert Lead.objects.get(lead_id="lead_B").phone_number == OTHER_PHONE


def test_a_batch_giving_a_lead_another_leads_phone_is_rejected_whole(api_client, tenant):
    Lead.objects.create(tenant=tenant, lead_id="lead_A", phone_number=PHONE)
    Lead.objects.create(tenant=tenant, lead_id="lead_B", phone_number=OTHER_PHONE)
    docs = [
        call_doc("c-1", lead={"phone_number": "+14155552673"}),
        call_doc("c-2", lead={"lead_id": "lead_B", "phone_number": PHONE}),
    ]

    response = api_client.post("/api/v1/calls", {"calls": docs}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "index": 1,
            "field": "lead.phone_number",
            "message": f"{PHONE} is the phone number of lead lead_A",
        }
    ]
    assert not Call.objects.exists()
    assert Lead.objects.count() == 2
    assert Lead.objects.get(lead_id="lead_B").phone_number == OTHER_PHONE


def test_demo_leads_get_distinct_phones(tenant):
    # A phone space of three numbers: the generator must draw again instead of reusing one.
    numbers = iter(["+14155550001", "+14155550002", "+14155550001", "+14155550003"] * 100)
    with mock.patch.object(demo_plan, "_phone", side_effect=lambda rng: next(numbers)):
        seed_demo(tenant=tenant, calls=30, days=3)

    phones = list(Lead.objects.filter(tenant=tenant).values_list("phone_number", flat=True))
    assert len(phones) == 3
    assert sorted(phones) == ["+14155550001", "+14155550002", "+14155550003"]
