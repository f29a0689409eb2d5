"""Concurrent writers of the same call end with one call and no server error (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from calls.keys import create_api_key
from calls.models import ActivityEvent, Agent, Call, Tenant, TranscriptTurn
from tests.calls.factories import call_doc

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WRITERS = 8


def test_concurrent_posts_of_the_same_call_end_with_one_call():
    tenant = Tenant.objects.create(name="Race", slug="race")
    _, raw = create_api_key(tenant=tenant)
    barrier = threading.Barrier(WRITERS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            doc = call_doc("race-1", sentiment="positive" if index % 2 else "negative")
            barrier.wait()
            statuses.append(client.post("/api/v1/calls", doc, format="json").status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(set(statuses)) <= [200, 201]
    assert statuses.count(201) == 1
    assert Call.objects.filter(tenant=tenant, call_id="race-1").count() == 1
    assert Agent.objects.filter(tenant=tenant).count() == 1
    call = Call.objects.get(tenant=tenant)
    assert TranscriptTurn.objects.filter(call=call).count() == 2
    assert ActivityEvent.objects.filter(type="conversation.started").count() == 1


def test_concurrent_batches_touching_the_same_days_and_leads_never_fail():
    tenant = Tenant.objects.create(name="Race", slug="race")
    _, raw = create_api_key(tenant=tenant)
    docs = [
        call_doc(
            f"c-{i}",
            start_time=f"2026-03-{1 + i % 5:02d}T10:00:00Z",
            lead={"lead_id": f"lead_{i % 4}", "status": "qualified", "score": 10 * (i % 7)},
        )
        for i in range(40)
    ]
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def writer(index: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            batch = docs if index % 2 else list(reversed(docs))
            barrier.wait()
            statuses.append(
                client.post("/api/v1/calls", {"calls": batch}, format="json").status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) and set(statuses) <= {200, 201}
    assert len(statuses) == 4
    assert Call.objects.filter(tenant=tenant).count() == 40
