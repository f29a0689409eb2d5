"""Lead writes: upsert, forward-only status with stage stamps, and the lead activity events."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from calls.documents import LeadIn
from calls.enums import LEAD_STAGE_ORDER, ActivityType, LeadStatus
from calls.models import ActivityEvent, Lead, Tenant
from calls.retry import atomic_with_retry
from calls.signals import rows_written

# lead.score_changed is written when the score moves at least this much.
SCORE_CHANGE_THRESHOLD = 15

STAGE_STAMP: dict[str, str] = {
    LeadStatus.QUALIFIED: "qualified_at",
    LeadStatus.DEMO_BOOKED: "demo_booked_at",
    LeadStatus.CONVERTED: "converted_at",
}


def new_lead_id() -> str:
    return "lead_" + secrets.token_hex(13).upper()


@dataclass
class LeadResult:
    lead: Lead
    created: bool
    changed: bool
    events: list[ActivityEvent] = field(default_factory=list)
    # The instants whose analytics days this write touched (for ``rows_written``).
    instants: set[datetime] = field(default_factory=set)


def _event(
    lead: Lead,
    type_: str,
    at: datetime,
    key: str,
    description: str,
    metadata: dict[str, Any],
    call: Any = None,
) -> ActivityEvent:
    return ActivityEvent(
        tenant_id=lead.tenant_id,
        type=type_,
        lead=lead,
        call=call,
        description=description,
        metadata=metadata,
        occurred_at=at,
        dedupe_key=key,
    )


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


def find_lead(*, tenant: Tenant, lead_id: str | None, phone: str | None) -> Lead | None:
    """The tenant's lead with this lead id, else with this phone number."""
    if lead_id:
        found = Lead.objects.filter(tenant=tenant, lead_id=lead_id).first()
        if found is not None:
            return found
    if phone:
        return Lead.objects.filter(tenant=tenant, phone_number=phone).order_by("created_at").first()
    return None


def apply_lead(
    *, tenant: Tenant, data: LeadIn, at: datetime, call: Any = None, ref: str = ""
) -> LeadResult:
    """Creates or updates a lead from ``data`` (fields left out keep their values) and builds its
    activity events. ``at`` is when it happened (the call's start, else now). Saves the lead; the
    caller saves the returned events."""
    fields = data.model_fields_set
    lead = find_lead(tenant=tenant, lead_id=data.lead_id, phone=data.phone_number)
    created = lead is None
    if lead is None:
        lead = Lead(tenant=tenant, lead_id=data.lead_id or new_lead_id(), created_at=at)
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

    events: list[ActivityEvent] = []
    if created:
        events.append(
            _event(
                lead,
                ActivityType.LEAD_CREATED,
                at,
                f"lead.created:{lead.pk}",
                f"New lead {lead.name or lead.phone_number or lead.lead_id}.",
                {"source": lead.source, "channel": lead.channel},
                call,
            )
        )
    reached = LEAD_STAGE_ORDER.index(lead.status) if lead.status in LEAD_STAGE_ORDER else -1
    was = LEAD_STAGE_ORDER.index(old_status) if old_status in LEAD_STAGE_ORDER else -1
    status_meta: dict[str, Any] = {"previousStatus": old_status, "newStatus": lead.status}
    if old_score != lead.score:
        status_meta["scoreChange"] = {"from": old_score, "to": lead.score}
    if was < 1 <= reached or (created and reached >= 1):
        events.append(
            _event(
                lead,
                ActivityType.LEAD_QUALIFIED,
                at,
                f"lead.qualified:{lead.pk}",
                "Lead qualified.",
                status_meta,
                call,
            )
        )
    if reached == 3 and (was < 3 or created):
        events.append(
            _event(
                lead,
                ActivityType.CONVERSION_COMPLETED,
                at,
                f"conversion.completed:{lead.pk}",
                "Lead converted.",
                status_meta,
                call,
            )
        )
    if (
        old_score is not None
        and lead.score is not None
        and not created
        and abs(lead.score - old_score) >= SCORE_CHANGE_THRESHOLD
    ):
        events.append(
            _event(
                lead,
                ActivityType.LEAD_SCORE_CHANGED,
                at,
                f"lead.score_changed:{lead.pk}:{old_score}:{lead.score}:{ref or at.isoformat()}",
                f"Lead score changed from {old_score} to {lead.score}.",
                {"scoreChange": {"from": old_score, "to": lead.score}},
                call,
            )
        )
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
        result = apply_lead(tenant=tenant, data=data, at=timezone.now())
        save_events(result.events)
        instants = result.instants | {event.occurred_at for event in result.events}
        if instants:
            rows_written.send(sender=Lead, tenant=tenant, instants=instants)
        return result

    return atomic_with_retry(write)
