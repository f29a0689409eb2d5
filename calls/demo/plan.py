"""What the demo data is, planned from a seed: the tenant's agents and workflows, when each call
starts, which calls move which lead, and the rows of every call.

Call ``i`` is generated from a random stream of its own chunk (``CHUNK`` calls, a constant, so
the write batch size does not change the data), its time is a pure function of ``i``, and leads
are planned before any call is written. Rows are plain tuples in the column orders of
``CALL_FIELDS``, ``LEAD_FIELDS`` and ``calls.denormalised``, built from precomputed templates;
``calls.demo.writer`` writes them.
"""

from __future__ import annotations

import math
import uuid
import zoneinfo
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from itertools import accumulate
from random import Random
from typing import Any

from calls.bulk import RawJSON, compact_json
from calls.demo.catalogue import (
    AGENT_NAMES,
    CANCELED,
    COMPLETED,
    COMPLETED_END_REASONS,
    COST_MICRO_USD_PER_MINUTE,
    CUSTOM_END_REASONS,
    EMAIL_DOMAINS,
    END_REASONS_BY_STATUS,
    FAILED,
    FAILURES,
    FIRST_NAMES,
    HANGUP_ON_VOICEMAIL,
    HOUR_WEIGHTS,
    IN_PROGRESS,
    LAST_NAMES,
    LEAD_JOURNEYS,
    LEAD_SOURCES,
    LEFT_VOICEMAIL,
    PHONE_ONLY_STATUSES,
    PROVIDERS,
    RECORDED_CONVERSATIONS,
    STATUS_WEIGHTS,
    TELEPHONY_MICRO_USD_PER_CALL,
    VERIFY_CALLEE,
    VERIFY_CALLER,
    VOICEMAIL,
    VOICEMAIL_CUT,
    WARNINGS,
    WEEKDAY_WEIGHTS,
    WORKFLOWS,
    ConversationTemplate,
    RecordedConversation,
    Turn,
    WorkflowSpec,
)
from calls.demo.recordings import recording_url
from calls.denormalised import (
    ACTION_FIELDS,
    ERROR_FIELDS,
    EVENT_FIELDS,
    LATENCY_FIELDS,
    TURN_FIELDS,
    VARIABLE_FIELDS,
    CallCopies,
    conversation_events,
    lead_events,
    turn_count,
)
from calls.enums import SUCCESSFUL_END_CALL_REASONS, ActivityType, CallStatus, LeadStatus
from calls.leads import apply_status
from calls.models import (
    ActivityEvent,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    TranscriptTurn,
    agent_replies,
    new_event_id,
)

# Calls generated from one random stream. Changing it changes every seeded data set.
CHUNK = 500
# Share of calls that start a lead's journey (each lead has one to four calls).
LEAD_RATE = 0.09
# Calls that started less than this before ``until`` may still be in progress.
LIVE_WINDOW_SECONDS = 30 * 60

_PHI = (math.sqrt(5) - 1) / 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- Precomputed catalog --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # Enum members hash by name, not value: keep plain strings in tables and dict keys.
    return value.value if isinstance(value, CallStatus | ActivityType | LeadStatus) else value


def _table(weights: Sequence[tuple[Any, int]]) -> tuple[Any, ...]:
    """A lookup table in which each value appears ``weight`` times: ``t[int(r * len(t))]``."""
    return tuple(_plain(value) for value, weight in weights for _ in range(weight))


def _json(value: Any) -> RawJSON:
    return RawJSON(compact_json(value))


@dataclass
class Conversation:
    """A conversation template with timings, rendered for one agent."""

    # (role, text or None when it needs the caller's name, template text, start_ms, end_ms)
    turns: tuple[tuple[str, str | None, str, int, int], ...]
    seconds: int
    handoff: bool
    end_reasons: tuple[str, ...] | None
    # A recorded conversation: the path its audio is served at and the caller it names.
    recording: str = ""
    caller: str = ""
    # Each of the workflow's variables with the values the conversation allows (JSON; empty:
    # the conversation does not bring it up, so it is not collected).
    variables: tuple[tuple[str, tuple[RawJSON, ...]], ...] = ()


def replies_in(turns: Sequence[tuple[Any, ...]]) -> int:
    """How many of the agent's replies (``calls.models.agent_replies``) rendered turns hold: a
    call has one latency sample of each provider per reply, up to a few."""
    return len(agent_replies((p, turn[0], turn[3]) for p, turn in enumerate(turns)))


@dataclass
class AgentPlan:
    """An agent: a workflow's persona, or another agent running the same workflow. It makes
    only that workflow's calls, of that workflow's type (outbound, inbound or widget)."""

    model_id: str
    name: str
    type: str
    workflow: int  # index into Catalog.workflows
    phone: str
    stack: dict[str, str]  # provider type -> provider name
    pk: int = 0
    agents_used: RawJSON = field(default_factory=lambda: RawJSON("[]"))
    conversations: tuple[Conversation, ...] = ()
    voicemail: Conversation | None = None
    voicemail_cut: Conversation | None = None


@dataclass
class Catalog:
    agents: list[AgentPlan]
    workflows: list[WorkflowSpec]
    workflow_pks: list[int]
    latency_tables: dict[str, tuple[float, ...]]


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _phone(rng: Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return f"+1{rng.randrange(201, 990)}{rng.randrange(2_000_000, 10_000_000)}"
    if kind < 0.85:
        return f"+4915{rng.randrange(100_000_000, 1_000_000_000)}"
    return f"+447{rng.randrange(100_000_000, 1_000_000_000)}"


def render(turns: Sequence[Turn], fill: dict[str, str]) -> list[tuple[str, str]]:
    """The turns with the agent's name and business filled in ("{name}", the caller's, stays)."""
    return [
        (role, text.replace("{agent}", fill["agent"]).replace("{company}", fill["company"]))
        for role, text in turns
    ]


def _timed(turns: Sequence[Turn], fill: dict[str, str], rng: Random) -> Conversation:
    rendered = []
    at = rng.randrange(300, 1200)
    for role, text in render(turns, fill):
        needs_name = "{name}" in text
        speak = (420 if role == "bot" else 300) + len(text) * (62 if role == "bot" else 68)
        start, end = at, at + speak
        rendered.append((role, None if needs_name else text, text, start, end))
        # The agent answers after its response latency; people take a little less.
        at = end + (rng.randrange(650, 1400) if role == "human" else rng.randrange(300, 900))
    return Conversation(
        turns=tuple(rendered),
        seconds=math.ceil(at / 1000),
        handoff=False,
        end_reasons=None,
    )


def _recorded(
    turns: Sequence[Turn], fill: dict[str, str], recorded: RecordedConversation
) -> Conversation:
    """The conversation timed as its recording: each turn where the audio has it, the call as
    long as the audio."""
    rendered = render(turns, fill)
    if len(rendered) != len(recorded.turns):
        raise ValueError(
            f"{recorded.file} has {len(recorded.turns)} turns, its script {len(rendered)}"
        )
    return Conversation(
        turns=tuple(
            (role, None if "{name}" in text else text, text, start, end)
            for (role, text), (start, end) in zip(rendered, recorded.turns, strict=True)
        ),
        seconds=recorded.seconds,
        handoff=False,
        end_reasons=None,
        recording=recording_url(recorded),
        caller=recorded.caller,
    )


def script(template: ConversationTemplate, agent_type: str) -> tuple[Turn, ...]:
    """The template as an agent of ``agent_type`` speaks it: with an identity check after the
    opening exchange (urgent conversations, those handed off, skip it)."""
    if template.handoff:
        return template.turns
    verify = VERIFY_CALLEE if agent_type == "outbound" else VERIFY_CALLER
    return (*template.turns[:2], *verify, *template.turns[2:])


# Workflows every demo tenant runs: those with recorded conversations (the demo's recordings)
# and lead qualification (its calls move the leads). The rest are drawn per seed.
RECORDED_WORKFLOWS = frozenset(r.workflow for r in RECORDED_CONVERSATIONS) | {"lead-qualification"}


def build_catalog(seed: int) -> Catalog:
    """Agents, workflows and the tables every call draws from, all derived from ``seed``.

    Each workflow is run by its persona (``WorkflowSpec.agent``), and one or two more agents
    drawn from ``AGENT_NAMES`` join workflows; every agent makes only its workflow's calls,
    introducing itself by its own name and its workflow's business."""
    rng = Random(f"callscope-demo:{seed}:catalog")
    others = [w for w in WORKFLOWS if w.slug not in RECORDED_WORKFLOWS]
    drawn = {w.slug for w in rng.sample(others, rng.randint(1, len(others)))}
    workflows = [w for w in WORKFLOWS if w.slug in RECORDED_WORKFLOWS or w.slug in drawn]
    staffing = list(range(len(workflows)))  # one persona per workflow
    extra = rng.sample(AGENT_NAMES, rng.randint(1, 2))
    staffing += [rng.randrange(len(workflows)) for _ in extra]
    names = [w.agent for w in workflows] + extra
    recordings = {(r.workflow, r.template): r for r in RECORDED_CONVERSATIONS}
    agents = []
    for i, (name, workflow) in enumerate(zip(names, staffing, strict=True)):
        spec = workflows[workflow]
        stack = {kind: rng.choice(sorted(options)) for kind, options in PROVIDERS.items()}
        agent = AgentPlan(
            model_id=_uuid(rng),
            name=name,
            type=spec.preferred_type,
            workflow=workflow,
            phone=_phone(rng),
            stack=stack,
            agents_used=_json([name]),
        )
        fill = {"agent": name, "company": spec.company}
        rendered = []
        for t, template in enumerate(spec.conversations):
            turns = script(template, agent.type)
            # The recordings are the personas' voices: another agent's calls are not recorded.
            persona = i < len(workflows)
            recorded = recordings.get((spec.slug, t)) if persona else None
            conv = _recorded(turns, fill, recorded) if recorded else _timed(turns, fill, rng)
            conv.handoff = template.handoff
            conv.end_reasons = template.end_reasons
            said = dict(template.variables)
            conv.variables = tuple(
                (name, tuple(_json(v) for v in said.get(name, ()))) for name in spec.variables
            )
            rendered.append(conv)
        agent.conversations = tuple(rendered)
        agent.voicemail = _timed((("bot", VOICEMAIL),), fill, rng)
        agent.voicemail_cut = _timed((("bot", VOICEMAIL_CUT),), fill, rng)
        agents.append(agent)

    latency_tables = {}
    for options in PROVIDERS.values():
        for provider, median in options.items():
            values = []
            for _ in range(2048):
                value = median * math.exp(rng.gauss(0, 0.38))
                if rng.random() < 0.03:
                    value *= rng.uniform(2.0, 4.0)  # the slow tail percentiles are about
                values.append(round(value, 1))
            latency_tables[provider] = tuple(values)
    return Catalog(
        agents=agents,
        workflows=workflows,
        workflow_pks=[],
        latency_tables=latency_tables,
    )


# --- Time -----------------------------------------------------------------------------------


class Timeline:
    """Call ``i`` of ``n`` starts at a pure function of ``i``: the quantile ``(i + jitter) / n``
    of an hourly volume curve (business hours in the tenant's zone, quieter weekends, growth)."""

    def __init__(self, *, until: datetime, days: int, zone: zoneinfo.ZoneInfo, seed: int) -> None:
        rng = Random(f"callscope-demo:{seed}:timeline")
        self.start = until.timestamp() - days * 86400
        self.hours = days * 24
        weights = []
        day_noise = [rng.uniform(0.85, 1.15) for _ in range(days + 1)]
        for h in range(self.hours):
            local = datetime.fromtimestamp(self.start + h * 3600 + 1800, zone)
            day = h // 24
            trend = 0.75 + 0.5 * day / max(days, 1)
            weights.append(
                HOUR_WEIGHTS[local.hour] * WEEKDAY_WEIGHTS[local.weekday()] * trend * day_noise[day]
            )
        self.weights = weights
        self.cumulative = [0.0, *accumulate(weights)]
        self.total = self.cumulative[-1]
        self.offset = (seed * math.sqrt(2)) % 1.0

    def at(self, i: int, n: int) -> int:
        """Start of call ``i`` of ``n``, in ms since the epoch."""
        q = (i + (i * _PHI + self.offset) % 1.0) / n
        target = q * self.total
        bucket = min(bisect_right(self.cumulative, target) - 1, self.hours - 1)
        within = (target - self.cumulative[bucket]) / self.weights[bucket]
        return int((self.start + (bucket + min(within, 0.999999)) * 3600) * 1000)

    def index_near(self, ts_ms: float, n: int) -> int:
        """Roughly the index of the call starting at ``ts_ms``."""
        hours = (ts_ms / 1000 - self.start) / 3600
        bucket = int(hours)
        if bucket >= self.hours:
            return n
        share = self.cumulative[bucket] + (hours - bucket) * self.weights[bucket]
        return int(share / self.total * n)


def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


# Calls of the same length and kind cost the same: each cost is worked out once.
@cache
def call_cost(duration: int | None, *, voice: bool, phone: bool) -> tuple[Decimal | None, RawJSON]:
    """A call's ``cost_usd`` and its ``cost_breakdown`` (``CostComponent`` keys, decimal USD
    strings adding up to the total): per-minute rates of the components the call used, and
    the telephony part of placing a phone call. A call still going on has no cost yet."""
    if duration is None:
        return None, RawJSON("{}")
    kinds = ("stt", "llm", "tts") if voice else ("llm",)
    micro = {kind: COST_MICRO_USD_PER_MINUTE[kind] * duration // 60 for kind in kinds}
    if phone:
        per_minute = COST_MICRO_USD_PER_MINUTE["telephony"] * duration // 60
        micro["telephony"] = TELEPHONY_MICRO_USD_PER_CALL + per_minute
    parts = {kind: amount for kind, amount in micro.items() if amount}
    breakdown = {
        kind: f"{amount // 1_000_000}.{amount % 1_000_000:06d}" for kind, amount in parts.items()
    }
    return Decimal(sum(parts.values())).scaleb(-6), _json(breakdown)


# --- Leads ----------------------------------------------------------------------------------


@dataclass
class LeadStep:
    """What call ``index`` does to its lead: the lead's identity and how the call moves it
    (``moves``: the arguments of ``calls.denormalised.lead_events`` but the lead's primary key,
    the call's start and the call id, which the call adds)."""

    lead_index: int
    agent: int
    name: str
    phone: str
    channel: str
    moves: dict[str, Any]
    lead_pk: int = 0


@dataclass
class LeadPlan:
    lead_id: str
    name: str
    phone: str
    email: str
    source: str
    channel: str
    agent: int
    estimated_value: int | None
    steps: list[tuple[int, str, int]]  # (call index, status after the call, score after)


def plan_leads(
    *, seed: int, calls: int, days: int, timeline: Timeline, catalog: Catalog
) -> tuple[list[LeadPlan], dict[int, tuple[int, int]]]:
    """Every lead's journey: which calls (by index) move it, to which status and score."""
    rng = Random(f"callscope-demo:{seed}:leads:{calls}:{days}")
    count = max(1, round(calls * LEAD_RATE)) if calls >= 10 else 0
    journeys = _table(LEAD_JOURNEYS)
    sources = _table(LEAD_SOURCES)
    taken: dict[int, tuple[int, int]] = {}  # call index -> (lead, step)
    plans: list[LeadPlan] = []
    phones: set[str] = set()  # a tenant's phone names one lead (Lead.lead_tenant_phone_uniq)
    # Leads are the sales agents' (lead qualification): their calls move leads down the funnel.
    sales = [
        i
        for i, a in enumerate(catalog.agents)
        if catalog.workflows[a.workflow].slug == "lead-qualification"
    ]
    for j in range(count):
        journey = journeys[int(rng.random() * len(journeys))]
        agent_index = sales[rng.randrange(len(sales))]
        agent = catalog.agents[agent_index]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        email_user = f"{first}.{last}".lower().replace("ü", "ue")
        channel = _channel_for(agent.type, rng.random())
        lead_id = "lead_" + f"{rng.getrandbits(104):026X}"
        phone = _phone(rng)
        while phone in phones:  # rare; drawn again, so the plan stays deterministic
            phone = _phone(rng)
        phones.add(phone)
        plan = LeadPlan(
            lead_id=lead_id,
            name=name,
            phone=phone,
            email=f"{email_user}{rng.randrange(1, 99)}@{rng.choice(EMAIL_DOMAINS)}",
            source=sources[int(rng.random() * len(sources))],
            channel=channel,
            agent=agent_index,
            estimated_value=rng.choice((None, 5000, 12000, 25000, 45000, 80000, 150000)),
            steps=[],
        )
        index = rng.randrange(calls)
        score = rng.randrange(10, 45)
        for step, status in enumerate(journey):
            if step:
                gap_ms = rng.uniform(0.5, 6.0) * 86_400_000
                index = max(
                    index + 1, timeline.index_near(timeline.at(index, calls) + gap_ms, calls)
                )
            while index < calls and index in taken:
                index += 1
            if index >= calls:
                break  # the rest of this journey lies after ``until``
            if status == LeadStatus.LOST:
                score = max(0, score - rng.randrange(10, 35))
            elif step:
                score = min(100, score + rng.randrange(5, 30))
            taken[index] = (j, step)
            plan.steps.append((index, status, score))
        if plan.steps:
            plans.append(plan)
    return plans, taken


def lead_row_and_moves(
    plan: LeadPlan, tenant_id: int, timeline: Timeline, calls: int, now: datetime
) -> tuple[tuple[Any, ...], list[dict[str, Any]]]:
    """The lead's final row and, per step, how that step moves the lead (``LeadStep.moves``)."""
    lead = Lead(status=LeadStatus.NEW)
    score: int | None = None
    per_step: list[dict[str, Any]] = []
    created_at = _dt(timeline.at(plan.steps[0][0], calls))
    for step, (index, status, new_score) in enumerate(plan.steps):
        at = _dt(timeline.at(index, calls))
        old_status, old_score = lead.status, score
        apply_status(lead, status, at)
        score = new_score
        per_step.append(
            {
                "created": step == 0,
                "label": plan.name,
                "source": plan.source,
                "channel": plan.channel,
                "old_status": old_status,
                "status": lead.status,
                "old_score": old_score,
                "score": score,
            }
        )
    row = (
        tenant_id,
        plan.lead_id,
        plan.phone,
        plan.name,
        plan.email,
        lead.status,
        score,
        plan.source,
        plan.channel,
        plan.estimated_value,
        created_at,
        lead.qualified_at,
        lead.demo_booked_at,
        lead.converted_at,
        lead.lost_at,
        now,
    )
    return row, per_step


LEAD_FIELDS = (
    "tenant_id",
    "lead_id",
    "phone_number",
    "name",
    "email",
    "status",
    "score",
    "source",
    "channel",
    "estimated_value",
    "created_at",
    "qualified_at",
    "demo_booked_at",
    "converted_at",
    "lost_at",
    "updated_at",
)


# --- Calls ----------------------------------------------------------------------------------


def _channel_for(agent_type: str, r: float) -> str:
    if agent_type == "widget":
        return "web_chat" if r < 0.7 else ("whatsapp" if r < 0.9 else "slack")
    return "phone" if r < 0.95 else "api"


CALL_FIELDS = (
    "id",
    "tenant_id",
    "call_id",
    "agent_id",
    "workflow_id",
    "lead_id",
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
    "intents",
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
    "turn_count",
    "document_hash",
    "child_hashes",
    "cost_usd",
    "cost_breakdown",
    "created_at",
    "updated_at",
)


@dataclass
class Batch:
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    variables: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    latencies: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    lead_events: list[tuple[Any, ...]] = field(default_factory=list)
    start_times: set[datetime] = field(default_factory=set)
    skipped: int = 0

    def tables(self) -> list[tuple[type[Any], tuple[str, ...], list[tuple[Any, ...]]]]:
        return [
            (TranscriptTurn, TURN_FIELDS, self.turns),
            (CollectedVariable, VARIABLE_FIELDS, self.variables),
            (ExecutedAction, ACTION_FIELDS, self.actions),
            (LatencySample, LATENCY_FIELDS, self.latencies),
            (ErrorLog, ERROR_FIELDS, self.errors),
            (ActivityEvent, EVENT_FIELDS, self.events),
        ]


class CallFactory:
    """Builds the rows of one chunk of calls. Everything per call is a table lookup or a few
    draws from the chunk's random stream."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        catalog: Catalog,
        timeline: Timeline,
        calls: int,
        seed: int,
        until: datetime,
        lead_steps: dict[int, LeadStep],
        now: datetime,
        transcripts: bool = True,
    ) -> None:
        self.tenant_id = tenant.pk
        self.transcripts = transcripts
        self.tz = tenant.timezone
        self.catalog = catalog
        self.timeline = timeline
        self.n = calls
        self.seed = seed
        self.until_ms = int(until.timestamp() * 1000)
        self.lead_steps = lead_steps
        self.now = now
        self.status_tables = {t: _table(w) for t, w in STATUS_WEIGHTS.items()}
        self.completed_reasons = _table(COMPLETED_END_REASONS)
        self.reasons = {_plain(s): _table(w) for s, w in END_REASONS_BY_STATUS.items()}
        self.agent_table = _table(
            [(i, 3 if a.type == "outbound" else 2) for i, a in enumerate(catalog.agents)]
        )
        self.sentiments = _table((("positive", 45), ("neutral", 40), ("negative", 15)))
        self.labels = _table(
            (
                (RawJSON("[]"), 85),
                (_json(["vip"]), 5),
                (_json(["follow-up"]), 7),
                (_json(["vip", "follow-up"]), 3),
            )
        )
        self.empty_list = RawJSON("[]")
        self.empty_object = RawJSON("{}")
        self.variable_names = [w.variables for w in catalog.workflows]

    def chunk_ids(self, chunk: int) -> tuple[Random, list[str]]:
        rng = Random(f"callscope-demo:{self.seed}:calls:{chunk}")
        first = chunk * CHUNK
        count = min(CHUNK, self.n - first)
        return rng, [_uuid(rng) for _ in range(count)]

    def build(
        self, chunk: int, rng: Random, call_ids: list[str], pks: list[int | None], out: Batch
    ) -> None:
        """Appends the chunk's rows to ``out``. ``pks[k]`` is the primary key of call ``k`` of
        the chunk (None: the call exists already; its rows are still drawn, then dropped, so the
        random stream stays the same)."""
        random = rng.random
        randrange = rng.randrange
        catalog = self.catalog
        agents = catalog.agents
        workflows = catalog.workflows
        workflow_pks = catalog.workflow_pks
        latency_tables = catalog.latency_tables
        tenant_id, tz, now = self.tenant_id, self.tz, self.now
        timeline_at = self.timeline.at
        n = self.n
        first = chunk * CHUNK
        until_ms = self.until_ms
        status_tables = self.status_tables
        completed_reasons = self.completed_reasons
        reasons = self.reasons
        agent_table = self.agent_table
        sentiments = self.sentiments
        labels = self.labels
        empty_list, empty_object = self.empty_list, self.empty_object
        lead_steps = self.lead_steps
        turns_out, variables_out, actions_out = out.turns, out.variables, out.actions
        latencies_out, errors_out, events_out = out.latencies, out.errors, out.events
        calls_out, lead_events_out = out.calls, out.lead_events

        for k, call_id in enumerate(call_ids):
            pk = pks[k]
            i = first + k
            start_ms = timeline_at(i, n)
            start = _dt(start_ms)
            lead_step = lead_steps.get(i)
            if lead_step is not None:
                agent_index = lead_step.agent
            else:
                agent_index = agent_table[int(random() * len(agent_table))]
            agent = agents[agent_index]
            workflow_index = agent.workflow
            workflow = workflows[workflow_index]
            type_ = agent.type
            channel = lead_step.channel if lead_step else _channel_for(type_, random())
            is_phone = channel == "phone"

            # Status and end reason.
            if until_ms - start_ms < LIVE_WINDOW_SECONDS * 1000 and random() < 0.6:
                status = IN_PROGRESS
            elif lead_step is not None:
                status = COMPLETED
            else:
                table = status_tables[type_]
                status = table[int(random() * len(table))]
                if not is_phone and status in PHONE_ONLY_STATUSES:
                    status = CANCELED
            completed = status == COMPLETED
            conversation: Conversation | None = None
            if completed or status == IN_PROGRESS:
                options = agent.conversations
                conversation = options[int(random() * len(options))]
            elif status == LEFT_VOICEMAIL:
                conversation = agent.voicemail
            elif status == HANGUP_ON_VOICEMAIL:
                conversation = agent.voicemail_cut
            if completed:
                assert conversation is not None
                if conversation.end_reasons:
                    end_reason = conversation.end_reasons[
                        int(random() * len(conversation.end_reasons))
                    ]
                else:
                    end_reason = completed_reasons[int(random() * len(completed_reasons))]
            else:
                table = reasons.get(status, ("undefined",))
                end_reason = table[int(random() * len(table))]
            custom_reason = (
                CUSTOM_END_REASONS[randrange(len(CUSTOM_END_REASONS))]
                if end_reason == "custom_end_call"
                else None
            )

            # A persona's recorded conversation, with the caller it names: the call lasts as
            # long as its recording.
            recorded = (
                conversation is not None
                and bool(conversation.recording)
                and completed
                and is_phone
                and lead_step is None
            )

            # Times: a call ends after its last turn (the gap after it included).
            if status == IN_PROGRESS:
                duration = None
            elif recorded:
                assert conversation is not None
                duration = conversation.seconds
            elif conversation is not None:
                duration = conversation.seconds + randrange(1, 12)
            else:
                duration = 0
            if duration and start_ms + duration * 1000 > until_ms:
                # It would end after ``until`` (now, for a fresh demo): it is still going on.
                status, completed, recorded = IN_PROGRESS, False, False
                duration, end_reason, custom_reason = None, "", None
            end = start + timedelta(seconds=duration) if duration is not None else None
            ringing = randrange(2000, 18000) if is_phone else None

            # Who.
            if lead_step is not None:
                lead_name, lead_phone, lead_pk = lead_step.name, lead_step.phone, lead_step.lead_pk
            else:
                lead_name = FIRST_NAMES[randrange(len(FIRST_NAMES))] if random() < 0.7 else ""
                lead_phone, lead_pk = (_phone(rng) if type_ != "widget" else ""), None
            # People say their name on the call even when the platform did not pass it on.
            first_name = (
                lead_name.split(" ", 1)[0]
                if lead_name
                else FIRST_NAMES[randrange(len(FIRST_NAMES))]
            )
            if recorded:
                assert conversation is not None
                first_name = conversation.caller
                lead_name = lead_name and conversation.caller
            if type_ == "inbound":
                number_from, number_to = lead_phone, agent.phone
            elif type_ == "outbound":
                number_from, number_to = agent.phone, lead_phone
            else:
                number_from = number_to = ""
            if not is_phone:
                number_from = number_to = ""

            # Outcome.
            handoff = bool(conversation and conversation.handoff and completed) or (
                completed and random() < 0.02
            )
            if completed:
                sentiment = sentiments[int(random() * len(sentiments))]
                success: bool | None = end_reason in SUCCESSFUL_END_CALL_REASONS and random() < 0.85
                response_time = round(900 * math.exp(rng.gauss(0, 0.3)), 1)
            else:
                sentiment = None
                success = None if status == IN_PROGRESS else False
                response_time = None
            error_message = ""
            failure = None
            if status == FAILED:
                failures = FAILURES["phone" if is_phone else "chat"]
                failure = failures[randrange(len(failures))]
                error_message = failure[0]
            intents = empty_list
            detected: list[tuple[str, float, int | None]] = []
            if completed and workflow.intents:
                for intent, rate, deal in workflow.intents:
                    if random() < rate:
                        confidence = round(0.6 + random() * 0.39, 2)
                        intents = _json(
                            [
                                {
                                    "intent": intent,
                                    "confidence": confidence,
                                    "estimated_deal_size": deal,
                                }
                            ]
                        )
                        detected.append((intent, confidence, deal))
                        break

            # Children.
            copies = CallCopies(pk, tenant_id, start, agent.pk, type_, agent.name)
            stored_turns = 0
            spoken_turns = 0
            llm_tokens = 0
            if conversation is not None:
                turns = conversation.turns
                if status == IN_PROGRESS:
                    turns = turns[: 1 + randrange(3)]
                spoken_turns = len(turns)
                if self.transcripts:
                    for position, (role, text, template, t0, t1) in enumerate(turns):
                        turns_out.append(
                            copies.turn(
                                position,
                                role,
                                text or template.replace("{name}", first_name),
                                t0,
                                t1,
                            )
                        )
                    stored_turns = turn_count(turns)
                # One sample of each provider per reply of the agent (the n-th of each belongs
                # to the n-th reply), for the first two or three replies.
                responses = min(replies_in(turns), 2 + (random() < 0.7))
                samples: list[tuple[str, str, float, int | None]] = []
                stack = agent.stack
                for _ in range(responses):
                    for kind in ("stt", "llm", "tts"):
                        provider = stack[kind]
                        table = latency_tables[provider]
                        tokens = None
                        if kind == "llm":
                            tokens = randrange(60, 420)
                            llm_tokens += tokens
                        samples.append((kind, provider, table[int(random() * len(table))], tokens))
                latencies_out.extend(copies.latencies(samples))
            if conversation is not None and not completed:
                # The agent's variables exist for every conversation; a voicemail collects none.
                for name in self.variable_names[workflow_index]:
                    variables_out.append(copies.variable(agent.model_id, name, None, False))
            if completed:
                assert conversation is not None
                agent_key = agent.model_id
                # What the caller said, as the conversation has it; extraction misses a few.
                for name, values in conversation.variables:
                    collected = bool(values) and random() < 0.9
                    variables_out.append(
                        copies.variable(
                            agent_key,
                            name,
                            values[int(random() * len(values))] if collected else None,
                            collected,
                        )
                    )
                position = 0
                for action in workflow.actions:
                    if random() < action.probability:
                        ok = random() < action.success_rate
                        latency = round(action.latency_ms * math.exp(rng.gauss(0, 0.35)), 1)
                        actions_out.append(
                            copies.action(
                                position,
                                action.name,
                                action.action_type,
                                ok,
                                latency,
                                _json(
                                    {
                                        "name": action.name,
                                        "action_type": action.action_type,
                                        "success": ok,
                                        "latency_ms": latency,
                                        "description": action.description,
                                    }
                                ),
                            )
                        )
                        position += 1
                if handoff:
                    actions_out.append(
                        copies.action(
                            position,
                            "transfer_to_human",
                            "LIVE_TRANSFER",
                            True,
                            240.0,
                            RawJSON(
                                '{"name":"transfer_to_human","action_type":"LIVE_TRANSFER",'
                                '"success":true,"latency_ms":240.0}'
                            ),
                        )
                    )
            # Error rows take the call's agent name (``CallCopies.error``).
            if failure is not None:
                errors_out.append(
                    copies.error(0, start, failure[1], "error", failure[0], _json(failure[2]), None)
                )
            elif completed and random() < 0.03:
                warning = WARNINGS[randrange(len(WARNINGS))]
                errors_out.append(
                    copies.error(
                        0,
                        start + timedelta(seconds=randrange(1, max(2, duration or 2))),
                        warning[1],
                        "warning",
                        warning[0],
                        _json(warning[2]),
                        None,
                    )
                )

            total_tokens = llm_tokens * 6 + spoken_turns * 40 if conversation else None
            # Only recorded conversations have a recording: a link to nowhere plays nothing.
            recording = conversation.recording if recorded and conversation else ""
            telephony_start = _dt(start_ms - ringing) if ringing is not None else None
            cost, cost_breakdown = call_cost(duration, voice=type_ != "widget", phone=is_phone)
            calls_out.append(
                (
                    pk,
                    tenant_id,
                    call_id,
                    agent.pk,
                    workflow_pks[workflow_index],
                    lead_pk,
                    status,
                    start,
                    end,
                    duration,
                    end_reason,
                    custom_reason,
                    error_message,
                    type_,
                    channel,
                    "",
                    lead_name,
                    lead_phone,
                    number_from,
                    number_to,
                    agent.phone if is_phone else "",
                    recording,
                    str(duration) if recording else "",
                    tz,
                    "live" if random() < 0.96 else "test",
                    "phone" if is_phone else "widget" if type_ == "widget" else "api",
                    labels[int(random() * len(labels))],
                    agent.agents_used,
                    empty_object,
                    None,
                    intents,
                    ("caller" if random() < 0.5 else "callee") if is_phone and end else "",
                    ("callee_hangup" if random() < 0.6 else "caller_hangup")
                    if is_phone and end and not failure
                    else ("error" if failure and is_phone else ""),
                    (duration or 0) * 1000 + ringing if ringing is not None and end else None,
                    ringing,
                    telephony_start,
                    end if ringing is not None else None,
                    sentiment,
                    success,
                    handoff,
                    total_tokens,
                    response_time,
                    stored_turns,
                    "",
                    empty_object,
                    cost,
                    cost_breakdown,
                    now,
                    now,
                )
            )

            # Events, as ingestion writes them.
            for spec in conversation_events(
                call_id=call_id,
                created=True,
                channel=channel,
                type_of_call=type_,
                start_time=start,
                end_time=end,
                handoff=handoff,
                intents=detected,
            ):
                events_out.append(
                    spec.row(
                        call_pk=pk, tenant_id=tenant_id, lead_pk=lead_pk, event_id=new_event_id()
                    )
                )
            if lead_step is not None:
                for spec in lead_events(
                    lead_pk=lead_step.lead_pk, at=start, ref=call_id, **lead_step.moves
                ):
                    lead_events_out.append(
                        spec.row(
                            call_pk=pk,
                            tenant_id=tenant_id,
                            lead_pk=lead_pk,
                            event_id=new_event_id(),
                        )
                    )
            if pk is not None:
                out.start_times.add(start)
