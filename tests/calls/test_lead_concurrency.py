"""Concurrent writers of the same lead end with one lead and its events once (PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.db.models import F
from rest_framework.test import APIClient

from calls.keys import create_api_key
from calls.models import ActivityEvent, Call, Lead, Tenant
from tests.calls.factories import call_doc

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
LEADS_URL = "/api/v1/leads"
CALLS_URL = "/api/v1/calls"


def _race(count: int, post: Callable[[APIClient, int], Any]) -> list[Any]:
    """Runs ``post(client, index)`` in ``count`` threads released together; returns their
    answers and fails on any exception raised in a thread."""
    tenant = Tenant.objects.get(slug="race")
    _, raw = create_api_key(tenant=tenant)
    barrier = threading.Barrier(count)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            barrier.wait()
            answers.append(post(client, index))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return answers


def _phone(n: int) -> str:
    return f"+1415555{n:04d}"


def test_overlapping_call_batches_with_leads_by_phone_make_one_lead_per_phone():
    tenant = Tenant.objects.create(name="Race", slug="race")
    phones = 100
    writers = 8

    def batch(index: int) -> list[dict[str, Any]]:
        # Each writer covers 40 consecutive phones (every phone is in three or four batches),
        # half of the writers in reverse order; its calls are its own.
        numbers = [(index * 13 + k) % phones for k in range(40)]
        if index % 2:
            numbers.reverse()
        return [
            call_doc(
                f"w{index}-{n}",
                lead_phone_number=_phone(n),
                lead={"phone_number": _phone(n), "name": f"Lead {n}", "status": "qualified"},
            )
            for n in numbers
        ]

    def post(client: APIClient, index: int) -> int:
        docs = batch(index)
        return client.post(CALLS_URL, {"calls": docs}, format="json").status_code

    statuses = _race(writers, post)

    assert statuses == [201] * writers
    per_phone = Counter(Lead.objects.filter(tenant=tenant).values_list("phone_number", flat=True))
    assert set(per_phone) == {_phone(n) for n in range(phones)}
    assert max(per_phone.values()) == 1
    leads = Lead.objects.filter(tenant=tenant)
    for type_ in ("lead.created", "lead.qualified"):
        events = Counter(
            ActivityEvent.objects.filter(tenant=tenant, type=type_).values_list(
                "lead_id", flat=True
            )
        )
        assert events == Counter({lead.pk: 1 for lead in leads}), type_
    # Every call is linked to the one lead of its phone.
    assert Call.objects.filter(tenant=tenant).count() == writers * 40
    assert not Call.objects.filter(tenant=tenant, lead__isnull=True).exists()
    mismatched = Call.objects.filter(tenant=tenant).exclude(
        lead__phone_number=F("lead_phone_number")
    )
    assert not mismatched.exists()


def test_concurrent_posts_of_one_new_phone_make_one_lead():
    tenant = Tenant.objects.create(name="Race", slug="race")
    body = {"phone_number": _phone(1), "name": "Ada", "status": "qualified", "score": 40}

    def post(client: APIClient, index: int) -> tuple[int, str]:
        response = client.post(LEADS_URL, body, format="json")
        return response.status_code, response.json().get("lead_id", "")

    answers = _race(20, post)

    assert sorted(code for code, _ in answers) == [200] * 19 + [201]
    lead = Lead.objects.get(tenant=tenant)
    assert {lead_id for _, lead_id in answers} == {lead.lead_id}
    assert (lead.phone_number, lead.status, lead.score) == (_phone(1), "qualified", 40)
    events = Counter(ActivityEvent.objects.filter(tenant=tenant).values_list("type", "lead_id"))
    assert events == Counter({("lead.created", lead.pk): 1, ("lead.qualified", lead.pk): 1})


def test_concurrent_updates_of_one_lead_write_its_score_change_once():
    tenant = Tenant.objects.create(name="Race", slug="race")
    lead = Lead.objects.create(tenant=tenant, lead_id="lead_X", phone_number=_phone(2), score=10)

    def post(client: APIClient, index: int) -> int:
        body = {"phone_number": _phone(2), "score": 60, "status": "converted"}
        return client.post(LEADS_URL, body, format="json").status_code

    assert _race(20, post) == [200] * 20

    lead.refresh_from_db()
    assert (lead.score, lead.status) == (60, "converted")
    types = Counter(
        ActivityEvent.objects.filter(tenant=tenant, lead=lead).values_list("type", flat=True)
    )
    assert types == Counter(
        {"lead.score_changed": 1, "lead.qualified": 1, "conversion.completed": 1}
    )
