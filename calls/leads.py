"""Lead writes: upsert, forward-only status with stage stamps, and the lead activity events."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from calls.denormalised import lead_events
from calls.documents import LeadIn
from calls.enums import LEAD_STAGE_ORDER, LeadStatus
from calls.models import ActivityEvent, Lead, Tenant, rows_written
from calls.retry import atomic_with_retry

STAGE_STAMP: dict[str, str] = {
    LeadStatus.QUALIFIED: "qualified_at",
    LeadStatus.DEMO_BOOKED: "demo_booked_at",
    LeadStatus.CONVERTED: "converted_at",
}


def new_lead_id() -> str:
    return "lead_" + secrets.token_hex(13).upper()


class LeadPhoneTaken(Exception):
    """A write would give a lead (matched by its ``lead_id``) the phone number another lead of
    the tenant has; a phone names at most one lead (``Lead``)."""

    def __init__(self, *, phone_number: str, lead_id: str, owner_lead_id: str) -> None:
        super().__init__(f"{phone_number} is the phone number of lead {owner_lead_id}")
        self.phone_number = phone_number
        self.lead_id = lead_id
        self.owner_lead_id = owner_lead_id


@dataclass
class LeadResult:
    lead: Lead
    created: bool
    changed: bool
    events: list[ActivityEvent] = field(default_factory=list)
    # The instants whose analytics days this write touched (for ``rows_written``).
    instants: set[datetime] = field(default_factory=set)


def apply_status(lead: Lead, status: str, at: datetime) -> bool:
    """Moves ``lead`` forward to ``status``, stamping the stage and every stage it skipped.
    Returns whether anything changed. Backward moves are ignored; ``lost`` ends progress."""
    if status == lead.status:
        return False
    if lead.status == LeadStatus.LOST:
        return False
    if status == LeadStatus.LOST:
        lead.status = LeadStatus.LOST
        lead.lost_at = lead.lost_at or at
        return True
    if LEAD_STAGE_ORDER.index(status) <= LEAD_STAGE_ORDER.index(lead.status):
        return False
    for stage in LEAD_STAGE_ORDER[1 : LEAD_STAGE_ORDER.index(status) + 1]:
        stamp = STAGE_STAMP[stage]
        if getattr(lead, stamp) is None:
            setattr(lead, stamp, at)
    lead.status = status
    return True


# Advisory lock buckets per tenant for leads not written yet (``lock_leads``). PostgreSQL keeps
# advisory locks in its shared lock table (max_locks_per_transaction x max_connections slots,
# 6,400 by default, shared by every session): a transaction takes at most this many.
NEW_LEAD_LOCK_BUCKETS = 64


def lock_leads(*, tenant: Tenant, leads: Sequence[LeadIn]) -> None:
    """Orders the transactions that write the same leads (PostgreSQL; SQLite runs one writer at a
    time anyway). Call before the transaction's first write.

    Writers of overlapping batches would otherwise lock and insert the leads in document order
    and deadlock (each deadlock costs a second of detection and a retry of the whole batch,
    which may deadlock again). Instead every writer takes, for the ``lead_id`` and phones of no
    lead yet, the advisory locks of their buckets, in bucket order; then the row locks of every
    lead the batch names, in primary key order (including leads committed while it waited). A
    second writer of a new lead waits for the first to commit and then finds its lead. Large
    batches of new leads share buckets and so run one after the other; that bounds the locks a
    transaction holds. Correctness does not rest on these locks (the unique constraints of
    ``Lead`` and the retry keep one lead per id and phone).
    """
    if connection.vendor != "postgresql":
        return
    ids = {lead.lead_id for lead in leads if lead.lead_id}
    phones = {lead.phone_number for lead in leads if lead.phone_number}
    if not ids and not phones:
        return
    named = Lead.objects.filter(
        Q(lead_id__in=ids) | (Q(phone_number__in=phones) & ~Q(phone_number="")), tenant=tenant
    )
    new_ids, new_phones = set(ids), set(phones)
    for lead_id, phone in named.values_list("lead_id", "phone_number"):
        new_ids.discard(lead_id)
        new_phones.discard(phone)
    names = [f"id:{lead_id}" for lead_id in new_ids] + [f"phone:{phone}" for phone in new_phones]
    buckets = {
        int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
        % NEW_LEAD_LOCK_BUCKETS
        for name in names
    }
    # One-key (bigint) advisory locks never meet the two-key ones the rollups take.
    keys = sorted(tenant.pk * NEW_LEAD_LOCK_BUCKETS + bucket for bucket in buckets)
    if keys:
        with connection.cursor() as cursor:
            # The lock function is volatile, so PostgreSQL calls it after the sort, in key order.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
                [keys],
            )
    # Only the locks are wanted here: ``find_lead`` reads the rows when their documents come.
    list(named.select_for_update().order_by("pk").values_list("pk", flat=True))


def find_lead(
    *, tenant: Tenant, lead_id: str | None, phone: str | None, lock: bool = False
) -> Lead | None:
    """The tenant's lead with this lead id, else with this phone number. With ``lock`` the lead
    is locked for the rest of the caller's transaction (``SELECT … FOR UPDATE``)."""
    leads = Lead.objects.select_for_update() if lock else Lead.objects.all()
    if lead_id:
        found = leads.filter(tenant=tenant, lead_id=lead_id).first()
        if found is not None:
            return found
    if phone:
        return leads.filter(tenant=tenant, phone_number=phone).first()
    return None


def apply_lead(
    *, tenant: Tenant, data: LeadIn, at: datetime, call: Any = None, ref: str = ""
) -> LeadResult:
    """Creates or updates a lead from ``data`` (fields left out keep their values) and builds its
    activity events. ``at`` is when it happened (the call's start, else now). Saves the lead; the
    caller saves the returned events. Must run in a transaction.

    Concurrent writers of one lead end as if they had run one after the other: a matched lead is
    locked until the caller commits (so a score moves, and its event is written, once). A writer
    whose new lead loses the insert to another writer's (same ``lead_id`` or phone: the unique
    constraints of ``Lead``) gets an ``IntegrityError`` once that writer has committed; the
    caller's retry (``atomic_with_retry``) runs again in a new transaction, which finds the
    committed lead and updates it, with no second ``lead.created``. No savepoint catches the error
    here: a batch would open one subtransaction per new lead, and PostgreSQL slows every
    concurrent snapshot down once a transaction holds more than 64 of them. ``lock_leads`` keeps
    this race away from writers that take it.

    Raises ``LeadPhoneTaken`` when the write would give the lead another lead's phone.
    """
    fields = data.model_fields_set
    lead = find_lead(tenant=tenant, lead_id=data.lead_id, phone=data.phone_number, lock=True)
    created = lead is None
    if lead is None:
        lead = Lead(tenant=tenant, lead_id=data.lead_id or new_lead_id(), created_at=at)
    elif data.phone_number and data.phone_number != lead.phone_number:
        owner = (
            Lead.objects.filter(tenant=tenant, phone_number=data.phone_number)
            .exclude(pk=lead.pk)
            .values_list("lead_id", flat=True)
            .first()
        )
        if owner is not None:
            raise LeadPhoneTaken(
                phone_number=data.phone_number, lead_id=lead.lead_id, owner_lead_id=owner
            )
    old_status, old_score = lead.status, lead.score
    before = _snapshot(lead)

    for name in ("phone_number", "name", "email", "source", "channel", "estimated_value"):
        if name in fields:
            value = getattr(data, name)
            setattr(lead, name, "" if value is None and name != "estimated_value" else value)
    if "score" in fields:
        lead.score = data.score
    if data.status is not None:
        apply_status(lead, data.status, at)

    changed = created or _snapshot(lead) != before
    instants: set[datetime] = set()
    if changed:
        old_source = before[3]
        lead.save()
        instants = {t for t in (*before[8:], *_stamps(lead)) if t is not None}
        if not created and lead.source != old_source:
            # Calls are counted by their lead's source too.
            instants.update(lead.calls.values_list("start_time", flat=True))

    events = [
        spec.event(tenant_id=lead.tenant_id, call=call, lead=lead)
        for spec in lead_events(
            lead_pk=lead.pk,
            created=created,
            label=lead.name or lead.phone_number or lead.lead_id,
            source=lead.source,
            channel=lead.channel,
            old_status=old_status,
            status=lead.status,
            old_score=old_score,
            score=lead.score,
            at=at,
            ref=ref,
        )
    ]
    return LeadResult(lead=lead, created=created, changed=changed, events=events, instants=instants)


def _stamps(lead: Lead) -> tuple[datetime | None, ...]:
    return (lead.created_at, lead.qualified_at, lead.demo_booked_at, lead.converted_at)


def _snapshot(lead: Lead) -> tuple[Any, ...]:
    # Positions matter: 3 is the source, 8 onwards the stage stamps.
    return (
        lead.phone_number,
        lead.name,
        lead.email,
        lead.source,
        lead.channel,
        lead.estimated_value,
        lead.score,
        lead.status,
        *_stamps(lead),
        lead.lost_at,
    )


def save_events(events: list[ActivityEvent]) -> None:
    """Writes events; one already written (same tenant and dedupe key) is skipped."""
    if events:
        ActivityEvent.objects.bulk_create(events, ignore_conflicts=True)


def lead_upsert(*, tenant: Tenant, data: LeadIn) -> LeadResult:
    """``POST /api/v1/leads``: upsert one lead and write its events, atomically. A concurrent
    creation of the same lead is retried as an update."""

    def write() -> LeadResult:
        lock_leads(tenant=tenant, leads=[data])
        result = apply_lead(tenant=tenant, data=data, at=timezone.now())
        save_events(result.events)
        instants = result.instants | {event.occurred_at for event in result.events}
        if instants:
            rows_written.send(sender=Lead, tenant=tenant, instants=instants)
        return result

    return atomic_with_retry(write)
