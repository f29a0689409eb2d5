"""Call ingestion: validate documents, then upsert them by ``(tenant, call_id)``.

Rules:

- Re-sending the document last applied changes nothing (outcome ``unchanged``).
- A later document updates the call; fields it leaves out keep their values; status only moves
  forward; a child list sent again replaces the stored one.
- A batch is all or nothing: any invalid document rejects the batch before anything is written.
- Concurrent writers of the same call end with one call: a unique-key race rolls back and the
  batch is retried, when the rows the other writer committed are found and updated.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Model
from django.utils import timezone
from pydantic import ValidationError

from calls.bulk import BulkWriter
from calls.denormalised import (
    ACTION_FIELDS,
    ERROR_FIELDS,
    LATENCY_FIELDS,
    TURN_FIELDS,
    VARIABLE_FIELDS,
    CallCopies,
    Row,
    conversation_events,
    turn_count,
)
from calls.documents import (
    INT32_MAX,
    CallDocument,
    CallOutcomeName,
    extra_problem,
    format_errors,
)
from calls.enums import STATUS_RANK
from calls.leads import LeadPhoneTaken, apply_lead, find_lead, lock_leads, save_events
from calls.models import (
    ActivityEvent,
    Agent,
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    TranscriptTurn,
    Workflow,
    WrittenCall,
    rows_written,
)
from calls.retry import atomic_with_retry

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

# Scalar document fields copied onto Call as they are.
SCALAR_FIELDS = (
    "status",
    "start_time",
    "end_time",
    "duration",
    "end_call_reason",
    "custom_end_call_reason",
    "error_message",
    "type_of_call",
    "channel",
    "name",
    "lead_name",
    "lead_phone_number",
    "phone_number_from",
    "phone_number_to",
    "agent_phone_number",
    "recording_url",
    "recording_duration",
    "timezone",
    "campaign_type",
    "deployment_type",
    "labels",
    "agents_used",
    "prompt_variables",
    "judge_results",
    "telephony_hangup",
    "telephony_disconnect_reason",
    "telephony_duration",
    "telephony_ringing_duration",
    "telephony_start",
    "telephony_end",
    "sentiment",
    "success",
    "handoff",
    "total_tokens",
    "response_time_ms",
    "platform",
    "platform_end_reason",
    "cost_usd",
    "cost_breakdown",
)
# Columns of Call that hold "" rather than NULL when the document has no value.
BLANK_STRING_FIELDS = {"type_of_call", "channel", "telephony_hangup", "platform"}
# Columns of Call that hold {} rather than NULL when the document has no value.
EMPTY_OBJECT_FIELDS = {"cost_breakdown"}
CHILD_KINDS = ("transcript", "collected_variables", "executed_actions", "latencies", "errors")
UPDATE_FIELDS = (
    *SCALAR_FIELDS,
    "agent",
    "workflow",
    "lead",
    "intents",
    "extra",
    "turn_count",
    "document_hash",
    "child_hashes",
    "updated_at",
)


class ExtraTooLarge(Exception):
    """A document's unmodelled fields, merged into the call's stored ones, exceed the bounds of
    ``calls.documents.extra_problem``."""


class DocumentsInvalid(Exception):
    """Raised with every bad item's index, field and message; nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


@dataclass(frozen=True)
class CallOutcome:
    call_id: str
    outcome: CallOutcomeName


@dataclass
class _Parsed:
    doc: CallDocument
    hash: str


@dataclass
class _Pending:
    """What one batch writes, gathered first so every table gets one statement."""

    new_calls: list[Call] = field(default_factory=list)
    changed_calls: dict[int, Call] = field(default_factory=dict)
    # kind -> {id(call): (call, rows)}: a call sent twice in one batch keeps its last list.
    children: dict[str, dict[int, tuple[Call, list[dict[str, Any]]]]] = field(
        default_factory=lambda: {kind: {} for kind in CHILD_KINDS}
    )
    # Updated calls whose start, agent or type changed: their kept children's copies follow.
    moved_calls: list[Call] = field(default_factory=list)
    events: list[ActivityEvent] = field(default_factory=list)
    instants: set[datetime] = field(default_factory=set)
    # id(call) -> (call, created, status and end reason before the batch): what the live
    # streams are told about (``WrittenCall``).
    written: dict[int, tuple[Call, bool, str | None, str | None]] = field(default_factory=dict)
    # The lead ``find_lead`` returns for a phone, looked up for the whole batch in one query
    # (documents that carry only ``lead_phone_number`` link to it).
    leads_by_phone: dict[str, Lead | None] = field(default_factory=dict)

    def lead_for_phone(self, tenant: Tenant, phone: str) -> Lead | None:
        if phone not in self.leads_by_phone:
            self.leads_by_phone[phone] = find_lead(tenant=tenant, lead_id=None, phone=phone)
        return self.leads_by_phone[phone]

    def forget_lead(self, lead: Lead) -> None:
        """A lead written in this batch may now be, or no longer be, the first lead with its
        old or new phone: those phones are looked up again when needed."""
        self.leads_by_phone.pop(lead.phone_number, None)
        for phone, cached in list(self.leads_by_phone.items()):
            if cached is not None and cached.pk == lead.pk:
                del self.leads_by_phone[phone]


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_documents(raw_documents: Sequence[Any]) -> list[_Parsed]:
    """Validates every document; raises ``DocumentsInvalid`` naming each bad one."""
    parsed: list[_Parsed] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_documents):
        if not isinstance(raw, dict):
            errors.append({"index": index, "field": "(document)", "message": "must be an object"})
            continue
        try:
            doc = CallDocument.model_validate(raw)
        except ValidationError as exc:
            errors.extend(format_errors(exc, index))
            continue
        parsed.append(_Parsed(doc=doc, hash=canonical_hash(raw)))
    if errors:
        raise DocumentsInvalid(errors)
    return parsed


def ingest_call_documents(*, tenant: Tenant, documents: Sequence[Any]) -> list[CallOutcome]:
    """Validates and upserts call documents for ``tenant``, all or nothing.

    Returns each document's outcome in order. Raises ``DocumentsInvalid`` before writing when any
    document is invalid, and with nothing written when a document's lead would take the phone
    number of another lead (field ``lead.phone_number``).
    """
    parsed = parse_documents(documents)
    # Another writer may insert one of these calls (or its agent, workflow or lead) first, or
    # deadlock with this batch: the retry then finds and updates the rows it committed.
    return atomic_with_retry(lambda: _upsert(tenant, parsed), attempts=MAX_ATTEMPTS)


def _upsert(tenant: Tenant, parsed: list[_Parsed]) -> list[CallOutcome]:
    # First, so that every writer takes its locks in the same order: leads, then calls.
    lock_leads(tenant=tenant, leads=[p.doc.lead for p in parsed if p.doc.lead is not None])
    agents = _resolve_agents(tenant, [p.doc for p in parsed])
    workflows = _resolve_workflows(tenant, [p.doc for p in parsed])
    call_ids = {p.doc.call_id for p in parsed}
    # The stored document hash of each call, locked in call_id order (the same order in every
    # concurrent batch). Only calls a document changes are then read whole: a resend, the
    # commonest retry, reads one small column per call instead of every call's row.
    stored_hashes: dict[str, str] = dict(
        Call.objects.select_for_update()
        .filter(tenant=tenant, call_id__in=call_ids)
        .order_by("call_id")
        .values_list("call_id", "document_hash")
    )
    to_change = [
        p
        for p in parsed
        if p.doc.call_id not in stored_hashes or stored_hashes[p.doc.call_id] != p.hash
    ]
    changed_ids = {p.doc.call_id for p in to_change} & stored_hashes.keys()
    # Read whole: a changed call is written back whole (``bulk_update`` of every column), so a
    # deferred column would cost a query per call.
    existing: dict[str, Call] = (
        {c.call_id: c for c in Call.objects.filter(tenant=tenant, call_id__in=changed_ids)}
        if changed_ids
        else {}
    )
    pending = _Pending(leads_by_phone=_leads_by_phone(tenant, to_change))
    outcomes: list[CallOutcome] = []
    # Found while writing (the documents were valid); the transaction is rolled back.
    conflicts: list[dict[str, Any]] = []
    for index, item in enumerate(parsed):
        call = existing.get(item.doc.call_id)
        stored = call.document_hash if call is not None else stored_hashes.get(item.doc.call_id)
        if stored == item.hash:
            outcomes.append(CallOutcome(item.doc.call_id, "unchanged"))
            continue
        created = call is None
        if call is None:
            call = Call(tenant=tenant, call_id=item.doc.call_id, child_hashes={})
            existing[item.doc.call_id] = call
            pending.new_calls.append(call)
        try:
            changed = _apply(tenant, call, item, agents, workflows, pending, created)
        except LeadPhoneTaken as exc:
            # Raised before anything of the lead is written: the other documents are still
            # checked, so that every conflicting one is named.
            conflicts.append({"index": index, "field": "lead.phone_number", "message": str(exc)})
            continue
        except ExtraTooLarge as exc:
            conflicts.append({"index": index, "field": "extra", "message": str(exc)})
            continue
        if created:
            outcomes.append(CallOutcome(item.doc.call_id, "created"))
        elif changed:
            outcomes.append(CallOutcome(item.doc.call_id, "updated"))
        else:
            outcomes.append(CallOutcome(item.doc.call_id, "unchanged"))
    if conflicts:
        raise DocumentsInvalid(conflicts)
    _write(pending)
    pending.instants.update(event.occurred_at for event in pending.events)
    if pending.instants:
        rows_written.send(
            sender=Call, tenant=tenant, instants=pending.instants, calls=_written_calls(pending)
        )
    return outcomes


def _written_calls(pending: _Pending) -> list[WrittenCall]:
    errors = pending.children["errors"]
    return [
        WrittenCall(
            pk=call.pk,
            created=created,
            previous_status=status,
            previous_end_call_reason=reason,
            status=call.status,
            end_call_reason=call.end_call_reason,
            errors_written=key in errors,
        )
        for key, (call, created, status, reason) in pending.written.items()
    ]


def _leads_by_phone(tenant: Tenant, parsed: list[_Parsed]) -> dict[str, Lead | None]:
    """For each phone of a document without a lead object, the lead ``find_lead`` would return
    (the first created with that phone), or None."""
    phones = {p.doc.lead_phone_number for p in parsed if p.doc.lead is None}
    phones.discard("")
    if not phones:
        return {}
    found: dict[str, Lead | None] = dict.fromkeys(phones)
    # Excluding "" repeats the condition of the partial unique index on (tenant, phone_number),
    # so the index stays usable for any number of phones (PostgreSQL proves that an IN list
    # implies the condition only for lists of up to 100 values).
    leads = Lead.objects.filter(tenant=tenant, phone_number__in=phones).exclude(phone_number="")
    for lead in leads.order_by("created_at"):
        if found[lead.phone_number] is None:
            found[lead.phone_number] = lead
    return found


def _resolve_agents(tenant: Tenant, docs: Iterable[CallDocument]) -> dict[str, Agent]:
    wanted: dict[str, dict[str, Any]] = {}
    for doc in docs:
        model_id = doc.agent_model_id
        if not model_id:
            continue
        attrs = wanted.setdefault(model_id, {})
        if doc.agent is not None:
            if doc.agent.name:
                attrs["name"] = doc.agent.name
            if doc.agent.type:
                attrs["type"] = doc.agent.type
    if not wanted:
        return {}
    found = {a.model_id: a for a in Agent.objects.filter(tenant=tenant, model_id__in=wanted)}
    missing = [Agent(tenant=tenant, model_id=m, **wanted[m]) for m in wanted if m not in found]
    for agent in Agent.objects.bulk_create(missing):
        found[agent.model_id] = agent
    for model_id, attrs in wanted.items():
        agent = found[model_id]
        if any(getattr(agent, k) != v for k, v in attrs.items()):
            for key, value in attrs.items():
                setattr(agent, key, value)
            agent.save(update_fields=list(attrs))
    return found


def _resolve_workflows(tenant: Tenant, docs: Iterable[CallDocument]) -> dict[str, Workflow]:
    wanted: dict[str, str | None] = {}
    for doc in docs:
        if doc.workflow is not None:
            wanted[doc.workflow.slug] = doc.workflow.name or wanted.get(doc.workflow.slug)
    if not wanted:
        return {}
    found = {w.slug: w for w in Workflow.objects.filter(tenant=tenant, slug__in=wanted)}
    missing = [
        Workflow(tenant=tenant, slug=s, name=n or "") for s, n in wanted.items() if s not in found
    ]
    for workflow in Workflow.objects.bulk_create(missing):
        found[workflow.slug] = workflow
    for slug, name in wanted.items():
        workflow = found[slug]
        if name and workflow.name != name:
            workflow.name = name
            workflow.save(update_fields=["name"])
    return found


def _column_value(name: str, value: Any) -> Any:
    if value is None and name in BLANK_STRING_FIELDS:
        return ""
    if value is None and name in EMPTY_OBJECT_FIELDS:
        return {}
    return value


def _merged_extra(call: Call, doc: CallDocument) -> dict[str, Any]:
    """The call's unmodelled fields after ``doc``: a key sent again takes the new value, keys
    it leaves out keep theirs (like the modelled fields). Raises ``ExtraTooLarge``."""
    merged = {**(call.extra or {}), **doc.extra}
    if problem := extra_problem(merged):
        raise ExtraTooLarge(problem)
    return merged


def _apply(
    tenant: Tenant,
    call: Call,
    item: _Parsed,
    agents: dict[str, Agent],
    workflows: dict[str, Workflow],
    pending: _Pending,
    created: bool,
) -> bool:
    """Applies one document to ``call`` in memory, queueing child rows and events.
    Returns whether the stored call changes."""
    doc = item.doc
    present = doc.fields_set()
    # Checked first: a refused document must not leave a half-applied call in memory.
    extra = _merged_extra(call, doc) if "extra" in present else None
    changed = created
    old_start = None if created else call.start_time
    before = (created, None if created else call.status, None if created else call.end_call_reason)
    copied = None if created else CallCopies.of(call).copied_by_children()

    for name in SCALAR_FIELDS:
        if name not in present and not created:
            continue
        value = _column_value(name, getattr(doc, name))
        if name == "status" and not created and STATUS_RANK[value] < STATUS_RANK[call.status]:
            continue  # status only moves forward
        if created or getattr(call, name) != value:
            setattr(call, name, value)
            changed = True

    if call.duration is None and call.end_time and call.start_time:
        seconds = round((call.end_time - call.start_time).total_seconds())
        # A stored end and a new start far apart must not overflow the 32-bit column.
        call.duration = min(INT32_MAX, max(0, seconds))
        changed = True

    model_id = doc.agent_model_id
    if model_id and call.agent_id != agents[model_id].pk:
        call.agent = agents[model_id]
        changed = True
    if doc.workflow is not None and call.workflow_id != workflows[doc.workflow.slug].pk:
        call.workflow = workflows[doc.workflow.slug]
        changed = True
    if extra is not None and extra != call.extra:
        call.extra = extra
        changed = True
    if "intents" in present:
        intents = [i.model_dump(mode="json") for i in doc.intents or []]
        if intents != call.intents:
            call.intents = intents
            changed = True

    # Children: replaced when sent again with different content.
    child_rows = {kind: _child_rows(kind, doc, tenant) for kind in CHILD_KINDS if kind in present}
    hashes = dict(call.child_hashes or {})
    for kind, rows_spec in child_rows.items():
        digest = canonical_hash(rows_spec)
        if hashes.get(kind) != digest:
            hashes[kind] = digest
            pending.children[kind][id(call)] = (call, rows_spec)
            if kind == "transcript":
                call.turn_count = turn_count(rows_spec)
            changed = True
    call.child_hashes = hashes

    if not created and copied != CallCopies.of(call).copied_by_children():
        pending.moved_calls.append(call)

    # The lead: an explicit lead object upserts it; a bare phone links to an existing lead.
    lead_events: list[ActivityEvent] = []
    if doc.lead is not None:
        result = apply_lead(tenant=tenant, data=doc.lead, at=call.start_time, ref=doc.call_id)
        if result.changed:
            pending.forget_lead(result.lead)
        pending.instants.update(result.instants)
        lead_events = result.events
        if call.lead_id != result.lead.pk:
            call.lead = result.lead
            changed = True
    elif doc.lead_phone_number and call.lead_id is None:
        lead = pending.lead_for_phone(tenant, doc.lead_phone_number)
        if lead is not None:
            call.lead = lead
            changed = True

    if not changed:
        return False
    call.document_hash = item.hash
    # A call sent twice in one batch keeps what it was before the batch.
    pending.written.setdefault(id(call), (call, *before))
    if not created and call.pk is not None:
        pending.changed_calls[call.pk] = call
    pending.instants.add(call.start_time)
    if old_start is not None:
        pending.instants.add(old_start)
    pending.events.extend(_call_events(call, doc, created, present))
    for event in lead_events:
        event.call = call
        pending.events.append(event)
    return True


def _child_rows(kind: str, doc: CallDocument, tenant: Tenant) -> list[dict[str, Any]]:
    """A child list as plain dicts (the hash input and the row values)."""
    if kind == "transcript":
        return [t.model_dump(mode="json") for t in doc.transcript or []]
    if kind == "collected_variables":
        return [
            {"agent_key": agent_key, "name": name, "value": var.value, "collected": var.collected}
            for agent_key, variables in (doc.collected_variables or {}).items()
            for name, var in variables.items()
        ]
    if kind == "executed_actions":
        return [
            {
                "name": a.name,
                "action_type": a.action_type,
                "success": a.success,
                "latency_ms": a.latency_ms,
                "payload": a.payload,
            }
            for a in doc.executed_actions or []
        ]
    if kind == "latencies":
        return [s.model_dump(mode="json") for s in doc.latencies or []]
    if kind == "errors":
        return [
            {
                **e.model_dump(mode="json", exclude={"timestamp"}),
                "timestamp": e.timestamp.isoformat() if e.timestamp else None,
            }
            for e in doc.errors or []
        ]
    raise ValueError(kind)


def _call_events(
    call: Call, doc: CallDocument, created: bool, present: set[str]
) -> list[ActivityEvent]:
    intents = (
        [(i.intent, i.confidence, i.estimated_deal_size) for i in doc.intents or []]
        if "intents" in present
        else []
    )
    specs = conversation_events(
        call_id=call.call_id,
        created=created,
        channel=call.channel,
        type_of_call=call.type_of_call,
        start_time=call.start_time,
        end_time=call.end_time,
        handoff=call.handoff,
        intents=intents,
    )
    lead = call.lead
    return [spec.event(tenant_id=call.tenant_id, call=call, lead=lead) for spec in specs]


# Every column of a new call row, by attribute name (``agent_id``), the primary key aside.
_CALL_INSERT_FIELDS = tuple(f.attname for f in Call._meta.concrete_fields if not f.primary_key)


def _insert_calls(calls: list[Call], writer: BulkWriter) -> None:
    """Inserts new calls and gives each its primary key. On PostgreSQL their rows are streamed
    with ``COPY`` under keys reserved from the sequence, as their children are: Django's
    ``bulk_create`` prepares each of a call's fifty columns in Python, a large part of a new
    batch's time. A call another writer inserted first is a unique violation, raised as
    Django's ``IntegrityError`` so that ``atomic_with_retry`` runs the batch again."""
    if not writer.uses_copy:
        Call.objects.bulk_create(calls)
        return
    now = timezone.now()
    for call in calls:
        call.created_at = call.updated_at = now  # what auto_now_add and auto_now would set
    rows = [tuple(getattr(call, name) for name in _CALL_INSERT_FIELDS) for call in calls]
    with writer.connection.wrap_database_errors:
        ids = writer.insert(Call, _CALL_INSERT_FIELDS, rows, return_ids=True)
    for call, pk in zip(calls, ids, strict=True):
        call.pk = pk
        call._state.adding = False
        call._state.db = writer.using


def _write(pending: _Pending) -> None:
    writer = BulkWriter()
    if pending.new_calls:
        _insert_calls(pending.new_calls, writer)
    if pending.changed_calls:
        Call.objects.bulk_update(list(pending.changed_calls.values()), UPDATE_FIELDS)

    for kind, items in pending.children.items():
        if not items:
            continue
        model, fields, build = CHILD_TABLES[kind]
        replaced = [call.pk for call, _ in items.values() if call.pk in pending.changed_calls]
        rows = [row for call, specs in items.values() for row in build(call, specs)]
        if model is ErrorLog:
            # Errors are counted by their own timestamps, which may fall in another hour or day
            # than their call's start: the instants of the rows replaced and written.
            at = fields.index("timestamp")
            pending.instants.update(row[at] for row in rows)
            if replaced:
                replaced_errors = ErrorLog.objects.filter(call_id__in=replaced)
                pending.instants.update(replaced_errors.values_list("timestamp", flat=True))
        if replaced:
            model._default_manager.filter(call_id__in=replaced).delete()
        # Plain rows streamed with COPY on PostgreSQL: building and inserting model instances
        # cost most of a batch's time.
        writer.insert(model, fields, rows)

    for call in pending.moved_calls:
        copies = CallCopies.of(call)
        LatencySample.objects.filter(call=call).update(**copies.latency_copies())
        ExecutedAction.objects.filter(call=call).update(**copies.action_copies())

    # Events built before their call was inserted pick up its primary key here (``bulk_create``
    # of the events reads the related call's pk, which ``_insert_calls`` set).
    save_events(pending.events)


def _turns(call: Call, specs: list[dict[str, Any]]) -> list[Row]:
    copies = CallCopies.of(call)
    return [
        copies.turn(position, spec["role"], spec["text"], spec["start_ms"], spec["end_ms"])
        for position, spec in enumerate(specs)
    ]


def _variables(call: Call, specs: list[dict[str, Any]]) -> list[Row]:
    copies = CallCopies.of(call)
    return [
        copies.variable(spec["agent_key"], spec["name"], spec["value"], spec["collected"])
        for spec in specs
    ]


def _actions(call: Call, specs: list[dict[str, Any]]) -> list[Row]:
    copies = CallCopies.of(call)
    return [
        copies.action(
            position,
            spec["name"],
            spec["action_type"],
            spec["success"],
            spec["latency_ms"],
            spec["payload"],
        )
        for position, spec in enumerate(specs)
    ]


def _latencies(call: Call, specs: list[dict[str, Any]]) -> list[Row]:
    return CallCopies.of(call).latencies(
        [
            (spec["provider_type"], spec["provider_name"], spec["latency_ms"], spec["tokens"])
            for spec in specs
        ]
    )


def _errors(call: Call, specs: list[dict[str, Any]]) -> list[Row]:
    # The agent's name is read only when an error names no agent: it may cost a query.
    needs_agent = any(not spec["agent_name"] for spec in specs)
    copies = CallCopies.of(call, agent_name=_agent_name(call) if needs_agent else "")
    rows = []
    for position, spec in enumerate(specs):
        timestamp = spec["timestamp"]
        rows.append(
            copies.error(
                position,
                datetime.fromisoformat(timestamp) if timestamp else None,
                spec["service"],
                spec["level"],
                spec["message"],
                spec["details"],
                spec["agent_name"],
            )
        )
    return rows


# kind -> (model, columns of a row, builder of a call's rows from its list)
CHILD_TABLES: dict[str, tuple[type[Model], tuple[str, ...], Callable[..., list[Row]]]] = {
    "transcript": (TranscriptTurn, TURN_FIELDS, _turns),
    "collected_variables": (CollectedVariable, VARIABLE_FIELDS, _variables),
    "executed_actions": (ExecutedAction, ACTION_FIELDS, _actions),
    "latencies": (LatencySample, LATENCY_FIELDS, _latencies),
    "errors": (ErrorLog, ERROR_FIELDS, _errors),
}


def _agent_name(call: Call) -> str:
    return call.agent.name if call.agent_id and call.agent else ""
