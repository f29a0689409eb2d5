"""Database constraints and named indexes exist on the database itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from calls.models import Agent, Call, Lead, Tenant

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def constraints_of(model) -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, model._meta.db_table)


@pytest.mark.parametrize(
    ("model", "name", "columns", "unique"),
    [
        (Call, "call_tenant_call_id_uniq", ["tenant_id", "call_id"], True),
        (Agent, "agent_tenant_model_uniq", ["tenant_id", "model_id"], True),
        (Lead, "lead_tenant_lead_id_uniq", ["tenant_id", "lead_id"], True),
        (Call, "call_tenant_start_idx", ["tenant_id", "start_time", "id"], False),
        (Call, "call_tenant_agent_start_idx", ["tenant_id", "agent_id", "start_time", "id"], False),
        (Call, "call_tenant_status_idx", ["tenant_id", "status", "start_time"], False),
        (Call, "call_tenant_phone_idx", ["tenant_id", "lead_phone_number", "start_time"], False),
        (Lead, "lead_tenant_phone_uniq", ["tenant_id", "phone_number"], True),
    ],
)
def test_named_constraints_and_indexes_exist(model, name, columns, unique):
    found = constraints_of(model)

    assert name in found
    assert found[name]["columns"] == columns
    assert found[name]["unique"] is unique


def test_call_id_is_unique_per_tenant(tenant, other_tenant):
    Call.objects.create(tenant=tenant, call_id="c", status="completed", start_time=NOW)
    Call.objects.create(tenant=other_tenant, call_id="c", status="completed", start_time=NOW)

    with pytest.raises(IntegrityError), transaction.atomic():
        Call.objects.create(tenant=tenant, call_id="c", status="failed", start_time=NOW)


def test_model_id_and_lead_id_are_unique_per_tenant(tenant):
    Agent.objects.create(tenant=tenant, model_id="m")
    Lead.objects.create(tenant=tenant, lead_id="lead_1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(tenant=tenant, model_id="m")
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(tenant=tenant, lead_id="lead_1")


def test_tenant_timezone_must_be_iana(db):
    from django.core.exceptions import ValidationError

    tenant = Tenant(name="X", slug="x", timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        tenant.full_clean()
