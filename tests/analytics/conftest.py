"""Factories for analytics tests: rows written straight through the ORM, so every expected number
in a test follows from the rows the test itself created."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Model

from calls.denormalised import (
    ACTION_FIELDS,
    LATENCY_FIELDS,
    TURN_FIELDS,
    CallCopies,
    turn_count,
)
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


def rollup_rows(tenant: Tenant, tables: Sequence[type[Model]]) -> dict[str, list[tuple]]:
    """Every row of ``tables`` of the tenant, without ids, in a stable order, by table."""
    result = {}
    for model in tables:
        names = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        rows = model._default_manager.filter(tenant=tenant).values_list(*names)
        result[model.__name__] = sorted(rows, key=repr)
    return result


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
    ``latencies`` (provider type, provider name, ms) samples. The child rows and the call's
    counts are built like ingestion builds them (``calls.denormalised``)."""
    transcript = [("bot" if i % 2 == 0 else "human", "hi") for i in range(turns)]
    obj = Call.objects.create(
        tenant=tenant,
        call_id=fields.pop("call_id", f"call-{next(_ids)}"),
        status=status,
        start_time=start,
        turn_count=turn_count(transcript),
        **fields,
    )
    copies = CallCopies.of(obj)
    _create(
        TranscriptTurn,
        TURN_FIELDS,
        [copies.turn(i, role, text, None, None) for i, (role, text) in enumerate(transcript)],
    )
    _create(
        ExecutedAction,
        ACTION_FIELDS,
        [copies.action(i, name, "", None, None, {}) for i, name in enumerate(actions)],
    )
    _create(
        LatencySample,
        LATENCY_FIELDS,
        copies.latencies([(ptype, pname, ms, None) for ptype, pname, ms in latencies]),
    )
    return obj


def _create(model: type[Model], fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    model._default_manager.bulk_create(model(**dict(zip(fields, row, strict=True))) for row in rows)


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
