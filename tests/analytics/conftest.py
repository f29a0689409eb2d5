"""Factories for analytics tests: rows written straight through the ORM, so every expected number
in a test follows from the rows the test itself created."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from calls.models import (
    ActivityEvent,
    Agent,
    Call,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    TranscriptTurn,
    Workflow,
)

_ids = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def agent(tenant: Tenant, model_id: str = "agent-1", name: str = "Jake", **kw: Any) -> Agent:
    found, _ = Agent.objects.get_or_create(
        tenant=tenant, model_id=model_id, defaults={"name": name, **kw}
    )
    return found


def workflow(
    tenant: Tenant, slug: str = "daily-call", name: str = "Daily Health Check"
) -> Workflow:
    found, _ = Workflow.objects.get_or_create(tenant=tenant, slug=slug, defaults={"name": name})
    return found


def call(
    tenant: Tenant,
    start: datetime,
    *,
    status: str = "completed",
    turns: int = 0,
    actions: list[str] | tuple[str, ...] = (),
    latencies: list[tuple[str, str, float]] | tuple[tuple[str, str, float], ...] = (),
    **fields: Any,
) -> Call:
    """A call started at ``start``; ``turns`` transcript turns, ``actions`` executed action names,
    ``latencies`` (provider type, provider name, ms) samples."""
    obj = Call.objects.create(
        tenant=tenant,
        call_id=fields.pop("call_id", f"call-{next(_ids)}"),
        status=status,
        start_time=start,
        turn_count=turns,
        **fields,
    )
    TranscriptTurn.objects.bulk_create(
        TranscriptTurn(call=obj, position=i, role="bot" if i % 2 == 0 else "human", text="hi")
        for i in range(turns)
    )
    ExecutedAction.objects.bulk_create(
        ExecutedAction(
            tenant=tenant,
            call=obj,
            start_time=start,
            agent_id=obj.agent_id,
            type_of_call=obj.type_of_call,
            position=i,
            name=name,
        )
        for i, name in enumerate(actions)
    )
    LatencySample.objects.bulk_create(
        LatencySample(
            tenant=tenant,
            call=obj,
            start_time=start,
            position=i,
            provider_type=ptype,
            provider_name=pname,
            latency_ms=ms,
            first_of_provider=(ptype, pname) not in {(t, n) for t, n, _ in latencies[:i]},
        )
        for i, (ptype, pname, ms) in enumerate(latencies)
    )
    return obj


def lead(
    tenant: Tenant,
    created: datetime,
    *,
    status: str = "new",
    qualified: datetime | None = None,
    demo: datetime | None = None,
    converted: datetime | None = None,
    value: int | None = None,
    **fields: Any,
) -> Lead:
    return Lead.objects.create(
        tenant=tenant,
        lead_id=fields.pop("lead_id", f"lead_{next(_ids):08d}"),
        created_at=created,
        status=status,
        qualified_at=qualified,
        demo_booked_at=demo,
        converted_at=converted,
        estimated_value=Decimal(value) if value is not None else None,
        **fields,
    )


def error_log(tenant: Tenant, at: datetime, **fields: Any) -> ErrorLog:
    fields.setdefault("service", "stt")
    fields.setdefault("level", "error")
    fields.setdefault("message", "Connection timeout")
    return ErrorLog.objects.create(tenant=tenant, timestamp=at, **fields)


def event(
    tenant: Tenant, at: datetime, type_: str = "lead.created", **fields: Any
) -> ActivityEvent:
    return ActivityEvent.objects.create(
        tenant=tenant,
        type=type_,
        occurred_at=at,
        dedupe_key=f"test:{next(_ids)}",
        **fields,
    )


@pytest.fixture
def berlin(tenant: Tenant) -> Tenant:
    """The default tenant, moved to Europe/Berlin."""
    tenant.timezone = "Europe/Berlin"
    tenant.save(update_fields=["timezone"])
    return tenant
