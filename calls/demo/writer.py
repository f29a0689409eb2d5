"""Writing the planned demo rows: ``seed_demo`` and the bulk writes under it.

Idempotence: call ids and lead ids come from the seed, so a second run finds the calls it wrote
and skips them; lead events are inserted ignoring duplicates. A run interrupted half-way resumes.

Speed: rows are written with ``COPY`` on PostgreSQL (``calls.bulk``); call ids are reserved from
the sequence first, so children are built in the same pass as their call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone as dj_timezone

from calls.bulk import BulkWriter
from calls.demo.plan import (
    CALL_FIELDS,
    CHUNK,
    LEAD_FIELDS,
    Batch,
    CallFactory,
    Catalog,
    LeadPlan,
    LeadStep,
    Timeline,
    build_catalog,
    lead_row_and_moves,
    plan_leads,
)
from calls.denormalised import ERROR_FIELDS, EVENT_FIELDS
from calls.models import ActivityEvent, Agent, Call, Lead, Tenant, Workflow, rows_written

# --- Agents, workflows and leads -------------------------------------------------------------


def _ensure_catalog(tenant: Tenant, catalog: Catalog) -> None:
    for agent in catalog.agents:
        obj, _ = Agent.objects.update_or_create(
            tenant=tenant,
            model_id=agent.model_id,
            defaults={"name": agent.name, "type": agent.type},
        )
        agent.pk = obj.pk
    catalog.workflow_pks = [
        Workflow.objects.update_or_create(tenant=tenant, slug=w.slug, defaults={"name": w.name})[
            0
        ].pk
        for w in catalog.workflows
    ]


def _write_leads(
    *,
    writer: BulkWriter,
    tenant: Tenant,
    plans: list[LeadPlan],
    timeline: Timeline,
    calls: int,
    now: datetime,
) -> tuple[dict[int, LeadStep], int]:
    """Writes the leads not written yet; returns the lead step of every lead call by index."""
    rows, step_moves = [], []
    for plan in plans:
        row, moves = lead_row_and_moves(plan, tenant.pk, timeline, calls, now)
        rows.append(row)
        step_moves.append(moves)
    existing: dict[str, int] = {}
    ids = [p.lead_id for p in plans]
    for start in range(0, len(ids), 5000):
        existing.update(
            Lead.objects.filter(tenant=tenant, lead_id__in=ids[start : start + 5000]).values_list(
                "lead_id", "pk"
            )
        )
    missing = [row for row in rows if row[1] not in existing]
    with transaction.atomic():
        new_pks = writer.insert(Lead, LEAD_FIELDS, missing, return_ids=True)
        if missing:
            # created_at and the stage stamps (qualified_at … lost_at) of every new lead.
            stamps = {t for row in missing for t in row[10:15] if t is not None}
            rows_written.send(sender=Lead, tenant=tenant, instants=stamps)
    existing.update(zip((row[1] for row in missing), new_pks, strict=True))

    steps: dict[int, LeadStep] = {}
    for j, plan in enumerate(plans):
        pk = existing[plan.lead_id]
        for step, (index, _, _) in enumerate(plan.steps):
            steps[index] = LeadStep(
                lead_index=j,
                agent=plan.agent,
                name=plan.name,
                phone=plan.phone,
                channel=plan.channel,
                moves=step_moves[j][step],
                lead_pk=pk,
            )
    return steps, len(missing)


# --- Entry point ----------------------------------------------------------------------------


@dataclass
class SeedSummary:
    calls_written: int = 0
    calls_skipped: int = 0
    leads_written: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def default_until() -> datetime:
    """The default anchor: now (to the minute), so a fresh demo's last hours are as busy as the
    hours before them and its live calls are live now; no call starts or ends after it."""
    return dj_timezone.now().astimezone(UTC).replace(second=0, microsecond=0)


def seed_demo(
    *,
    tenant: Tenant,
    calls: int,
    days: int,
    seed: int = 1,
    until: datetime | None = None,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
    transcripts: bool = True,
) -> SeedSummary:
    """Writes ``calls`` demo calls (and their agents, workflows, leads, children and events)
    for ``tenant``, spread over the ``days`` days before ``until``. Calls already written by an
    earlier run with the same arguments are skipped. ``progress(n)`` is called as calls are
    done. Without ``transcripts`` calls are written without transcript turns (quicker loads of
    very large benchmark tenants); everything else is the same. Returns what was written."""
    if calls < 0 or days < 1:
        raise ValueError("calls must be >= 0 and days >= 1")
    started = time.perf_counter()
    until = (until or default_until()).astimezone(UTC)
    now = dj_timezone.now()
    writer = BulkWriter()
    catalog = build_catalog(seed)
    _ensure_catalog(tenant, catalog)
    timeline = Timeline(until=until, days=days, zone=tenant.zone, seed=seed)
    plans, _ = plan_leads(seed=seed, calls=calls, days=days, timeline=timeline, catalog=catalog)
    lead_steps, leads_written = _write_leads(
        writer=writer, tenant=tenant, plans=plans, timeline=timeline, calls=calls, now=now
    )
    factory = CallFactory(
        tenant=tenant,
        catalog=catalog,
        timeline=timeline,
        calls=calls,
        seed=seed,
        until=until,
        lead_steps=lead_steps,
        now=now,
        transcripts=transcripts,
    )
    summary = SeedSummary(leads_written=leads_written)
    fresh = not Call.objects.filter(tenant=tenant).exists()
    if not fresh and connection.vendor == "postgresql":
        # A resumed load looks up which calls it already wrote, batch by batch; a table filled
        # by an interrupted load may never have been analysed, and without statistics each
        # lookup scans the whole table.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE calls_call")
    chunks = math.ceil(calls / CHUNK) if calls else 0
    per_batch = max(1, batch // CHUNK)
    for first_chunk in range(0, chunks, per_batch):
        out = Batch()
        done = 0
        for chunk in range(first_chunk, min(chunks, first_chunk + per_batch)):
            rng, call_ids = factory.chunk_ids(chunk)
            done += len(call_ids)
            existing = (
                set()
                if fresh
                else set(
                    Call.objects.filter(tenant=tenant, call_id__in=call_ids).values_list(
                        "call_id", flat=True
                    )
                )
            )
            if len(existing) == len(call_ids):
                out.skipped += len(call_ids)
                continue
            pks = _call_pks(writer, chunk, call_ids, existing)
            factory.build(chunk, rng, call_ids, pks, out)
            out.skipped += len(existing)
        _write_batch(writer, tenant, out, partial=not fresh)
        summary.calls_skipped += out.skipped
        summary.calls_written += len(out.calls)
        for name, count in _row_counts(out).items():
            summary.rows[name] = summary.rows.get(name, 0) + count
        if progress is not None:
            progress(done)
    summary.seconds = time.perf_counter() - started
    return summary


def _call_pks(
    writer: BulkWriter, chunk: int, call_ids: list[str], existing: set[str]
) -> list[int | None]:
    """Primary keys for the chunk's new calls: reserved from the sequence on PostgreSQL, unique
    negative placeholders (replaced by the real keys after the insert) elsewhere."""
    if writer.uses_copy:
        reserved = iter(writer.reserve_ids(Call, len(call_ids) - len(existing)))
        return [None if cid in existing else next(reserved) for cid in call_ids]
    first = chunk * CHUNK
    return [None if cid in existing else -(first + k + 1) for k, cid in enumerate(call_ids)]


def _row_counts(out: Batch) -> dict[str, int]:
    return {
        "calls": len(out.calls),
        "transcript_turns": len(out.turns),
        "variables": len(out.variables),
        "actions": len(out.actions),
        "latency_samples": len(out.latencies),
        "error_logs": len(out.errors),
        "events": len(out.events) + len(out.lead_events),
    }


def _write_batch(writer: BulkWriter, tenant: Tenant, out: Batch, *, partial: bool) -> None:
    if partial:
        # Rows of calls that exist already were drawn only to keep the random stream; drop them.
        out.calls = [r for r in out.calls if r[0] is not None]
        for _, _, rows in out.tables():
            rows[:] = [r for r in rows if r[0] is not None]
        out.lead_events = [r for r in out.lead_events if r[0] is not None]
    if not out.calls:
        return
    # Every child row points at a call inserted just before it, in this transaction.
    with transaction.atomic(), writer.foreign_key_checks_skipped():
        if writer.uses_copy:
            writer.insert(Call, CALL_FIELDS, out.calls)
            mapping = None
        else:
            new_pks = writer.insert(
                Call, CALL_FIELDS[1:], [r[1:] for r in out.calls], return_ids=True
            )
            mapping = {r[0]: pk for r, pk in zip(out.calls, new_pks, strict=True)}
        for model, fields, rows in out.tables():
            if rows:
                if mapping is not None:
                    rows = [(mapping[r[0]], *r[1:]) for r in rows]
                writer.insert(model, fields, rows)
        if out.lead_events:
            rows = out.lead_events
            if mapping is not None:
                rows = [(mapping[r[0]], *r[1:]) for r in rows]
            writer.insert(ActivityEvent, EVENT_FIELDS, rows, ignore_conflicts=True)
        occurred = EVENT_FIELDS.index("occurred_at")
        at = ERROR_FIELDS.index("timestamp")
        instants = (
            out.start_times
            | {r[occurred] for r in (*out.events, *out.lead_events)}
            | {r[at] for r in out.errors}
        )
        rows_written.send(sender=Call, tenant=tenant, instants=instants)
