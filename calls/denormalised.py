"""The values a call's rows store twice, and the keys of the events a call writes.

Child rows copy values of their call (``tenant`` on every child, the start, agent and type on
executed actions, the start on latency samples) so that analytics reads one index range instead
of joining the calls; ``Call.turn_count`` and ``LatencySample.first_of_provider`` count without
reading every row; an activity event's ``dedupe_key`` is what makes a resend write nothing new.
Every writer of these rows builds them here: ingestion (``calls.services``, ``calls.leads``), the
demo generator (``calls.demo``) and the test factories, so that a row means the same whoever
wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from calls.enums import LEAD_STAGE_ORDER, ActivityType
from calls.models import ActivityEvent, Call, Lead

Row = tuple[Any, ...]

# Column orders of the rows ``CallCopies`` builds (``calls.bulk.BulkWriter.insert`` fields): the
# call's primary key first, then the copies.
TURN_FIELDS = ("call_id", "tenant_id", "position", "role", "text", "start_ms", "end_ms")
VARIABLE_FIELDS = ("call_id", "tenant_id", "agent_key", "name", "value", "collected")
ACTION_FIELDS = (
    "call_id",
    "tenant_id",
    "start_time",
    "agent_id",
    "type_of_call",
    "position",
    "name",
    "action_type",
    "success",
    "latency_ms",
    "payload",
)
LATENCY_FIELDS = (
    "call_id",
    "tenant_id",
    "start_time",
    "position",
    "provider_type",
    "provider_name",
    "latency_ms",
    "tokens",
    "first_of_provider",
)
ERROR_FIELDS = (
    "call_id",
    "tenant_id",
    "position",
    "timestamp",
    "service",
    "level",
    "message",
    "details",
    "agent_name",
)
EVENT_FIELDS = (
    "call_id",
    "tenant_id",
    "event_id",
    "type",
    "lead_id",
    "description",
    "metadata",
    "occurred_at",
    "dedupe_key",
)

# intent.high_value is written for an intent detected with at least this confidence.
HIGH_VALUE_INTENT_CONFIDENCE = 0.8
# lead.score_changed is written when the score moves at least this much.
SCORE_CHANGE_THRESHOLD = 15


def turn_count(turns: Sized) -> int:
    """``Call.turn_count``: the number of transcript turns stored with the call."""
    return len(turns)


def first_of_provider(providers: Iterable[tuple[str, str]]) -> list[bool]:
    """``LatencySample.first_of_provider`` of each of a call's samples, given in order as
    (provider type, provider name): whether no earlier sample of the call had that provider."""
    seen: set[tuple[str, str]] = set()
    flags = []
    for provider in providers:
        flags.append(provider not in seen)
        seen.add(provider)
    return flags


@dataclass(frozen=True, slots=True)
class CallCopies:
    """The values of one call that its child rows carry, and the builders of those rows."""

    call_pk: int | None
    tenant_id: int
    start_time: datetime
    agent_id: int | None
    type_of_call: str
    # The default ``agent_name`` of the call's error rows (the name of the call's agent).
    agent_name: str = ""

    @classmethod
    def of(cls, call: Call, *, agent_name: str = "") -> CallCopies:
        return cls(
            call.pk, call.tenant_id, call.start_time, call.agent_id, call.type_of_call, agent_name
        )

    def copied_by_children(self) -> tuple[datetime, int | None, str]:
        """What executed actions and latency samples copy: when it changes, so must they."""
        return (self.start_time, self.agent_id, self.type_of_call)

    def action_copies(self) -> dict[str, Any]:
        """The copied columns of the call's executed actions (``ExecutedAction``)."""
        return {
            "start_time": self.start_time,
            "agent_id": self.agent_id,
            "type_of_call": self.type_of_call,
        }

    def latency_copies(self) -> dict[str, Any]:
        """The copied columns of the call's latency samples (``LatencySample``)."""
        return {"start_time": self.start_time}

    def turn(
        self, position: int, role: str, text: str, start_ms: int | None, end_ms: int | None
    ) -> Row:
        return (self.call_pk, self.tenant_id, position, role, text, start_ms, end_ms)

    def variable(self, agent_key: str, name: str, value: Any, collected: bool) -> Row:
        return (self.call_pk, self.tenant_id, agent_key, name, value, collected)

    def action(
        self,
        position: int,
        name: str,
        action_type: str,
        success: bool | None,
        latency_ms: float | None,
        payload: Any,
    ) -> Row:
        return (
            self.call_pk,
            self.tenant_id,
            self.start_time,
            self.agent_id,
            self.type_of_call,
            position,
            name,
            action_type,
            success,
            latency_ms,
            payload,
        )

    def latencies(self, samples: Sequence[tuple[str, str, float, int | None]]) -> list[Row]:
        """The call's latency samples, each (provider type, provider name, ms, tokens)."""
        flags = first_of_provider((s[0], s[1]) for s in samples)
        pk, tenant_id, start_time = self.call_pk, self.tenant_id, self.start_time
        return [
            (pk, tenant_id, start_time, position, *sample, first)
            for position, (sample, first) in enumerate(zip(samples, flags, strict=True))
        ]

    def error(
        self,
        position: int,
        timestamp: datetime | None,
        service: str,
        level: str,
        message: str,
        details: Any,
        agent_name: str | None,
    ) -> Row:
        """An error row; without its own timestamp or agent name it takes the call's."""
        return (
            self.call_pk,
            self.tenant_id,
            position,
            timestamp or self.start_time,
            service,
            level,
            message,
            details,
            agent_name or self.agent_name,
        )


class EventSpec(NamedTuple):
    """An activity event's content; its writer adds the tenant, call, lead and ``event_id``."""

    type: str
    dedupe_key: str
    occurred_at: datetime
    description: str
    metadata: dict[str, Any]

    def event(self, *, tenant_id: int, call: Call | None, lead: Lead | None) -> ActivityEvent:
        """The event as a model instance (ingestion saves these with ``save_events``)."""
        return ActivityEvent(
            tenant_id=tenant_id,
            type=self.type,
            call=call,
            lead=lead,
            occurred_at=self.occurred_at,
            dedupe_key=self.dedupe_key,
            description=self.description,
            metadata=self.metadata,
        )

    def row(self, *, call_pk: Any, tenant_id: int, lead_pk: Any, event_id: str) -> Row:
        """The event as a row in ``EVENT_FIELDS`` order (the demo's bulk writes)."""
        return (
            call_pk,
            tenant_id,
            event_id,
            self.type,
            lead_pk,
            self.description,
            self.metadata,
            self.occurred_at,
            self.dedupe_key,
        )


def conversation_events(
    *,
    call_id: str,
    created: bool,
    channel: str,
    type_of_call: str,
    start_time: datetime,
    end_time: datetime | None,
    handoff: bool,
    intents: Iterable[tuple[str, float, float | None]] = (),
) -> list[EventSpec]:
    """The events a call document writes: ``conversation.started`` when the call is created,
    ``conversation.handoff`` when it was handed off, ``intent.high_value`` per confident intent
    of ``intents`` (intent, confidence, estimated deal size). Each is keyed by the call id, so a
    call writes each at most once."""
    events = []
    if created:
        events.append(
            EventSpec(
                ActivityType.CONVERSATION_STARTED.value,
                f"conversation.started:{call_id}",
                start_time,
                "Conversation started.",
                {"channel": channel, "typeOfCall": type_of_call},
            )
        )
    if handoff:
        events.append(
            EventSpec(
                ActivityType.CONVERSATION_HANDOFF.value,
                f"conversation.handoff:{call_id}",
                end_time or start_time,
                "Conversation handed off to a human.",
                {},
            )
        )
    for intent, confidence, deal_size in intents:
        if confidence >= HIGH_VALUE_INTENT_CONFIDENCE:
            events.append(
                EventSpec(
                    ActivityType.INTENT_HIGH_VALUE.value,
                    f"intent.high_value:{call_id}:{intent}",
                    start_time,
                    f"High-value buying intent detected: {intent}.",
                    {"intent": intent, "confidence": confidence, "estimatedDealSize": deal_size},
                )
            )
    return events


def lead_events(
    *,
    lead_pk: int,
    created: bool,
    label: str,
    source: str,
    channel: str,
    old_status: str,
    status: str,
    old_score: int | None,
    score: int | None,
    at: datetime,
    ref: str = "",
) -> list[EventSpec]:
    """The events of one write of a lead that moved it from ``old_status``/``old_score`` to
    ``status``/``score`` at ``at`` (``label``: how the lead is named in ``lead.created``).
    Stage events are keyed by the lead, so each is written once per lead; a score change is
    keyed by the lead, both scores and ``ref`` (the call that moved it, else ``at``)."""
    events = []
    if created:
        events.append(
            EventSpec(
                ActivityType.LEAD_CREATED.value,
                f"lead.created:{lead_pk}",
                at,
                f"New lead {label}.",
                {"source": source, "channel": channel},
            )
        )
    reached = LEAD_STAGE_ORDER.index(status) if status in LEAD_STAGE_ORDER else -1
    was = LEAD_STAGE_ORDER.index(old_status) if old_status in LEAD_STAGE_ORDER else -1
    status_meta: dict[str, Any] = {"previousStatus": old_status, "newStatus": status}
    if old_score != score:
        status_meta["scoreChange"] = {"from": old_score, "to": score}
    if was < 1 <= reached or (created and reached >= 1):
        events.append(
            EventSpec(
                ActivityType.LEAD_QUALIFIED.value,
                f"lead.qualified:{lead_pk}",
                at,
                "Lead qualified.",
                status_meta,
            )
        )
    if reached == 3 and (was < 3 or created):
        events.append(
            EventSpec(
                ActivityType.CONVERSION_COMPLETED.value,
                f"conversion.completed:{lead_pk}",
                at,
                "Lead converted.",
                status_meta,
            )
        )
    if (
        old_score is not None
        and score is not None
        and not created
        and abs(score - old_score) >= SCORE_CHANGE_THRESHOLD
    ):
        events.append(
            EventSpec(
                ActivityType.LEAD_SCORE_CHANGED.value,
                f"lead.score_changed:{lead_pk}:{old_score}:{score}:{ref or at.isoformat()}",
                at,
                f"Lead score changed from {old_score} to {score}.",
                {"scoreChange": {"from": old_score, "to": score}},
            )
        )
    return events
