"""Deterministic demo data: agents, workflows, leads and calls with everything a call carries.

``seed_demo(tenant=…, calls=…, days=…, seed=…, until=…)`` writes ``calls`` calls spread over the
``days`` days before ``until``, with transcripts, collected variables, executed actions, provider
latencies, errors, leads moving through the funnel and the activity events ingestion would have
written for them (same types, same dedupe keys as ``calls.services`` and ``calls.leads``).

Determinism: the same seed, call count, day count and ``until`` give the same call ids, times,
agents, statuses, durations and leads. Call ``i`` is generated from a random stream of its own
chunk (``CHUNK`` calls, a constant, so the write batch size does not change the data), its time is
a pure function of ``i``, and leads are planned before any call is written.

Idempotence: call ids and lead ids come from the seed, so a second run finds the calls it wrote
and skips them; lead events are inserted ignoring duplicates. A run interrupted half-way resumes.

Speed: rows are built as plain tuples from precomputed templates and written with ``COPY`` on
PostgreSQL (``calls.bulk``); call ids are reserved from the sequence first, so children are
built in the same pass as their call.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
import zoneinfo
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from random import Random
from typing import Any

from django.db import connection, transaction
from django.utils import timezone as dj_timezone

from calls.bulk import BulkWriter, RawJSON
from calls.enums import (
    LEAD_STAGE_ORDER,
    SUCCESSFUL_END_CALL_REASONS,
    ActivityType,
    CallStatus,
    LeadStatus,
)
from calls.leads import apply_status
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
)
from calls.signals import rows_written

# Calls generated from one random stream. Changing it changes every seeded data set.
CHUNK = 500
# Share of calls that start a lead's journey (each lead has one to four calls).
LEAD_RATE = 0.09
# Calls that started less than this before ``until`` may still be in progress.
LIVE_WINDOW_SECONDS = 30 * 60

_PHI = (math.sqrt(5) - 1) / 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- Catalog --------------------------------------------------------------------------------

AGENT_NAMES = ("Jake", "Ava", "Noah", "Mia", "Leo", "Sofia", "Ethan", "Emma", "Liam", "Olivia")
COMPANIES = (
    "Brightside Health",
    "Northwind Dental",
    "Acme Cloud",
    "Harbor Realty",
    "Bluebird Insurance",
)
FIRST_NAMES = (
    "Eddie", "Julian", "Maria", "Chen", "Aisha", "Lukas", "Priya", "Tom", "Sara", "Diego",
    "Hannah", "Omar", "Grace", "Mateo", "Yuki", "Fatima", "Noel", "Ingrid", "Kwame", "Lena",
    "Rafael", "Zoe", "Ivan", "Amara", "Felix", "Nora", "Samir", "Chloe", "Viktor", "Elena",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Müller", "Garcia", "Kim", "Okafor", "Rossi", "Novak", "Schneider", "Silva",
    "Johnson", "Nguyen", "Patel", "Brown", "Fischer", "Lopez", "Andersen", "Costa", "Weber",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "mail.example.org", "corp.example.net")
PROVIDERS = {
    # name -> (median latency ms, share of agents using it)
    "stt": {"deepgram": 170.0, "assemblyai": 260.0, "azure": 320.0},
    "llm": {"openai": 430.0, "anthropic": 520.0, "groq": 190.0},
    "tts": {"elevenlabs": 240.0, "cartesia": 130.0, "playht": 310.0},
}

Turn = tuple[str, str]  # (role, text); "{name}", "{agent}" and "{company}" are filled in


@dataclass(frozen=True)
class ConversationTemplate:
    turns: tuple[Turn, ...]
    handoff: bool = False
    # End reasons this conversation plausibly ends with (None: the completed-call table).
    end_reasons: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    action_type: str
    probability: float
    success_rate: float
    latency_ms: float
    description: str


@dataclass(frozen=True)
class WorkflowSpec:
    slug: str
    name: str
    conversations: tuple[ConversationTemplate, ...]
    variables: tuple[tuple[str, tuple[Any, ...]], ...]
    actions: tuple[ActionSpec, ...]
    intents: tuple[tuple[str, float, int | None], ...] = ()  # (intent, rate, deal size)
    preferred_type: str = "outbound"


WORKFLOWS: tuple[WorkflowSpec, ...] = (
    WorkflowSpec(
        slug="lead-qualification",
        name="Lead Qualification",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Hi {name}, this is {agent} from {company}. You asked for a demo on "
                            "our website. Is now a good time?"),
                    ("human", "Yes, I have a few minutes."),
                    ("bot", "Great. How many people on your team would use the product?"),
                    ("human", "Around forty agents in our support center."),
                    ("bot", "And what are you using today to handle calls?"),
                    ("human", "A mix of an old IVR and manual callbacks."),
                    ("bot", "Understood. Are you looking to roll something out this quarter?"),
                    ("human", "Ideally within the next two months."),
                    ("bot", "That fits well. Could I book you a thirty-minute demo with one of "
                            "our solution engineers?"),
                    ("human", "Sure, Thursday afternoon is good."),
                    ("bot", "Booked for Thursday at 3 PM. You will receive an invite by email."),
                    ("human", "Perfect, thank you."),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hello {name}, {agent} here from {company}. Thanks for your interest "
                            "in our enterprise plan."),
                    ("human", "Hi. We need pricing for about two hundred seats."),
                    ("bot", "Happy to help. Do you need single sign-on and a dedicated success "
                            "manager?"),
                    ("human", "Yes, both are requirements for us."),
                    ("bot", "Then the enterprise tier is the right fit. What budget range are "
                            "you working with?"),
                    ("human", "Somewhere around fifty thousand a year."),
                    ("bot", "Thanks. An account executive will send you a tailored quote today."),
                    ("human", "Sounds good."),
                    ("bot", "Thanks for your time, {name}. Talk soon!"),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hi {name}, this is {agent} from {company}. I saw you downloaded our "
                            "pricing guide. Do you have any questions?"),
                    ("human", "I was just browsing, we are a very small team."),
                    ("bot", "No problem. We have a starter plan for small teams. Shall I email "
                            "you the details?"),
                    ("human", "Sure, email is fine."),
                    ("bot", "Done. Thanks for your time and have a nice day."),
                )
            ),
        ),
        variables=(
            ("team_size", (5, 12, 40, 80, 200, 350)),
            ("current_solution", ("IVR", "manual callbacks", "another vendor", "none")),
            ("timeline", ("this quarter", "next quarter", "this year", "unknown")),
            ("budget", (5000, 20000, 50000, 120000)),
        ),
        actions=(
            ActionSpec("extract_qualification", "INFORMATION_EXTRACTOR", 0.9, 0.99, 120.0,
                       "Extracts team size, timeline and budget"),
            ActionSpec("book_demo", "REAL_TIME_BOOKING", 0.35, 0.94, 480.0,
                       "Books a demo in the sales calendar"),
            ActionSpec("push_to_crm", "CUSTOM_ACTION", 0.5, 0.96, 650.0,
                       "Creates or updates the contact in the CRM"),
        ),
        intents=(
            ("enterprise_pricing", 0.12, 45000),
            ("demo_request", 0.15, None),
            ("volume_discount", 0.05, 120000),
        ),
    ),
    WorkflowSpec(
        slug="appointment-booking",
        name="Appointment Booking",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Hi {name}, this is {agent} from {company}. I am calling about your "
                            "check-up. Do you have a minute?"),
                    ("human", "Sure, go ahead."),
                    ("bot", "You are due for your six-month visit. Would you like to book an "
                            "appointment next week?"),
                    ("human", "Yes, what do you have on Tuesday?"),
                    ("bot", "On Tuesday I have 9:30 in the morning or 2:15 in the afternoon."),
                    ("human", "2:15 works for me."),
                    ("bot", "Perfect. Shall I send the reminder to the email we have on file?"),
                    ("human", "Yes, please."),
                    ("bot", "Done. You are booked for Tuesday at 2:15 PM. You will get a "
                            "confirmation text shortly."),
                    ("human", "Thanks a lot."),
                    ("bot", "You are welcome. Have a great day!"),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hi {name}, it is {agent} from {company}. I am calling to confirm "
                            "your appointment tomorrow at 10 AM."),
                    ("human", "Oh, I actually need to move that."),
                    ("bot", "No problem. Would Thursday or Friday suit you better?"),
                    ("human", "Friday morning, if possible."),
                    ("bot", "I can offer Friday at 8:45 or 11:00."),
                    ("human", "Let's do 11."),
                    ("bot", "All set, Friday at 11:00 AM. Anything else I can help with?"),
                    ("human", "No, that's all."),
                    ("bot", "Thanks, {name}. See you Friday. Goodbye!"),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hello {name}, this is {agent} with {company}. We have a few "
                            "openings this week for your annual check-up."),
                    ("human", "I am travelling this month, can you call me later?"),
                    ("bot", "Of course. Should I reach out again in about three weeks?"),
                    ("human", "Yes, that would be better."),
                    ("bot", "Noted. I will call you back then. Have a good trip!"),
                    ("human", "Thanks, bye."),
                ),
                end_reasons=("human_goodbye", "goodbye_detected"),
            ),
        ),
        variables=(
            ("appointment_slot", ("Tuesday 2:15 PM", "Friday 11:00 AM", "Monday 9:30 AM")),
            ("appointment_confirmed", (True, True, False)),
            ("reminder_channel", ("sms", "email")),
        ),
        actions=(
            ActionSpec("book_appointment", "REAL_TIME_BOOKING", 0.7, 0.93, 450.0,
                       "Books a slot in the practice calendar"),
            ActionSpec("send_confirmation_sms", "SEND_SMS", 0.45, 0.98, 300.0,
                       "Texts the appointment confirmation"),
        ),
    ),
    WorkflowSpec(
        slug="customer-support",
        name="Customer Support",
        preferred_type="inbound",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Thanks for calling {company}, this is {agent}. How can I help you "
                            "today?"),
                    ("human", "Hi, I can't log in to my account since this morning."),
                    ("bot", "Sorry to hear that. Can you tell me the email address on the "
                            "account?"),
                    ("human", "It's the one ending in example dot com."),
                    ("bot", "Thanks. The account was locked after several failed attempts. I "
                            "have just sent you a reset link."),
                    ("human", "Got it, let me check. Okay, I'm in."),
                    ("bot", "Great. Is there anything else I can help you with?"),
                    ("human", "No, that's everything."),
                    ("bot", "Thanks for calling {company}. Have a great day!"),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Thanks for calling {company}, you are speaking with {agent}. What "
                            "can I do for you?"),
                    ("human", "I was charged twice for my last invoice."),
                    ("bot", "I am sorry about that. Could you give me the invoice number?"),
                    ("human", "It's INV 20418."),
                    ("bot", "Thank you. I see two payments for that invoice. Refunds need a "
                            "billing specialist, so let me transfer you."),
                    ("human", "Okay, thanks."),
                    ("bot", "Transferring you now. Please stay on the line."),
                ),
                handoff=True,
                end_reasons=("agent_ended_call",),
            ),
            ConversationTemplate(
                (
                    ("bot", "Hi, you have reached {company}. I am {agent}, the virtual "
                            "assistant. How can I help?"),
                    ("human", "I'd like to change the delivery address for my order."),
                    ("bot", "Sure. What is the order number?"),
                    ("human", "Order 55872."),
                    ("bot", "Found it. What is the new address?"),
                    ("human", "Twelve Harbor Street, apartment four."),
                    ("bot", "Updated. The order will now ship to 12 Harbor Street, Apt 4. "
                            "Anything else?"),
                    ("human", "No, thanks."),
                    ("bot", "You are welcome. Goodbye!"),
                )
            ),
        ),
        variables=(
            ("issue_type", ("login", "billing", "order change", "technical")),
            ("resolved", (True, True, True, False)),
            ("account_verified", (True, False)),
        ),
        actions=(
            ActionSpec("lookup_account", "CUSTOM_ACTION", 0.8, 0.97, 350.0,
                       "Looks the caller up in the customer database"),
            ActionSpec("send_reset_link", "SEND_SMS", 0.25, 0.99, 280.0,
                       "Texts a password reset link"),
        ),
        intents=(("upgrade_interest", 0.03, 8000),),
    ),
    WorkflowSpec(
        slug="daily-call",
        name="Daily Health Check",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Good morning {name}, this is {agent} from {company} with your daily "
                            "check-in. How are you feeling today?"),
                    ("human", "Pretty good, thanks."),
                    ("bot", "Glad to hear it. Did you take your morning medication?"),
                    ("human", "Yes, right after breakfast."),
                    ("bot", "Great. Any pain or dizziness since yesterday?"),
                    ("human", "A little headache last night, but it's gone."),
                    ("bot", "Thanks, I will note that for your care team. Did you sleep well?"),
                    ("human", "About seven hours."),
                    ("bot", "Wonderful. I will call again tomorrow at the same time. Take care!"),
                    ("human", "Bye."),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hello {name}, it is {agent} from {company}. Time for your daily "
                            "check-in. How are you today?"),
                    ("human", "Not great, I've been feeling short of breath."),
                    ("bot", "I am sorry to hear that. Is it happening right now?"),
                    ("human", "It's a bit better now, but it worried me."),
                    ("bot", "Thank you for telling me. I am connecting you with a nurse right "
                            "away."),
                    ("human", "Okay, thank you."),
                ),
                handoff=True,
                end_reasons=("agent_ended_call",),
            ),
        ),
        variables=(
            ("feeling", ("good", "good", "okay", "unwell")),
            ("medication_taken", (True, True, True, False)),
            ("symptoms", ("none", "none", "headache", "dizziness", "short of breath")),
            ("sleep_hours", (5, 6, 7, 7, 8)),
        ),
        actions=(
            ActionSpec("log_check_in", "CUSTOM_ACTION", 0.95, 0.98, 380.0,
                       "Writes the check-in to the care record"),
        ),
    ),
    WorkflowSpec(
        slug="payment-reminder",
        name="Payment Reminder",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Hi {name}, this is {agent} calling from {company} about your "
                            "account. Is this a good time?"),
                    ("human", "Yes, what's it about?"),
                    ("bot", "Your payment of 89 dollars was due on the 5th. Would you like to "
                            "pay it now over the phone?"),
                    ("human", "Can I pay next Friday instead?"),
                    ("bot", "Sure, I can note a promise to pay for next Friday. Shall I text you "
                            "a payment link?"),
                    ("human", "Yes, please."),
                    ("bot", "Done. You will get the link in a moment. Thank you, {name}!"),
                    ("human", "Thanks, bye."),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hello {name}, {agent} from {company} here. A friendly reminder "
                            "that your invoice is now ten days overdue."),
                    ("human", "I already paid it yesterday."),
                    ("bot", "Thanks for letting me know. Payments can take two business days to "
                            "show. I will note it on your account."),
                    ("human", "Great."),
                    ("bot", "Sorry for the trouble. Have a good day!"),
                )
            ),
        ),
        variables=(
            ("amount_due", (89, 120, 45.5, 310)),
            ("promise_to_pay", (True, True, False)),
            ("payment_link_sent", (True, False)),
        ),
        actions=(
            ActionSpec("send_payment_link", "SEND_SMS", 0.6, 0.98, 320.0,
                       "Texts a secure payment link"),
            ActionSpec("record_promise_to_pay", "CUSTOM_ACTION", 0.5, 0.97, 420.0,
                       "Records the promised payment date"),
        ),
    ),
    WorkflowSpec(
        slug="order-status",
        name="Order Status",
        preferred_type="widget",
        conversations=(
            ConversationTemplate(
                (
                    ("bot", "Hi! I'm {agent}, the {company} assistant. How can I help?"),
                    ("human", "Where is my order?"),
                    ("bot", "I can check that. What is your order number?"),
                    ("human", "It's 78123."),
                    ("bot", "Your order shipped yesterday and should arrive on Thursday. Here is "
                            "the tracking link."),
                    ("human", "Great, thanks!"),
                    ("bot", "Anything else I can help with?"),
                    ("human", "No, that's it."),
                    ("bot", "Have a great day!"),
                )
            ),
            ConversationTemplate(
                (
                    ("bot", "Hello, I'm {agent} from {company}. What can I do for you today?"),
                    ("human", "I want to return a pair of shoes."),
                    ("bot", "No problem. Did you buy them within the last 30 days?"),
                    ("human", "Yes, two weeks ago."),
                    ("bot", "Then the return is free. I have emailed you a prepaid label."),
                    ("human", "Perfect."),
                    ("bot", "Once we receive them, the refund takes 3 to 5 business days. "
                            "Anything else?"),
                    ("human", "No, thank you."),
                )
            ),
        ),
        variables=(
            ("order_number", ("78123", "55872", "90411", "61207")),
            ("request", ("track", "return", "change address")),
            ("satisfied", (True, True, False)),
        ),
        actions=(
            ActionSpec("lookup_order", "CUSTOM_ACTION", 0.9, 0.97, 300.0,
                       "Fetches the order from the shop"),
            ActionSpec("rate_conversation", "CUSTOM_EVAL", 0.3, 1.0, 90.0,
                       "Scores the conversation against the rubric"),
        ),
    ),
)  # fmt: skip

VOICEMAIL = (
    "Hi {name}, this is {agent} from {company}. Sorry I missed you. Please call us back when it "
    "suits you. Thank you!"
)
VOICEMAIL_CUT = "Hi, this is {agent} from {company}, I am calling about"

# Status tables per call type: (status, weight). Weights are percentages.
STATUS_WEIGHTS = {
    "outbound": (
        (CallStatus.COMPLETED, 58),
        (CallStatus.NO_ANSWER, 13),
        (CallStatus.BUSY, 5),
        (CallStatus.FAILED, 4),
        (CallStatus.LEFT_VOICEMAIL, 9),
        (CallStatus.HANGUP_ON_VOICEMAIL, 7),
        (CallStatus.CANCELED, 2),
        (CallStatus.USER_CANCELED, 2),
    ),
    "inbound": (
        (CallStatus.COMPLETED, 87),
        (CallStatus.FAILED, 3),
        (CallStatus.USER_CANCELED, 7),
        (CallStatus.CANCELED, 3),
    ),
    "widget": (
        (CallStatus.COMPLETED, 90),
        (CallStatus.FAILED, 3),
        (CallStatus.CANCELED, 7),
    ),
}
COMPLETED_END_REASONS = (
    ("agent_goodbye", 34),
    ("human_goodbye", 26),
    ("goodbye_detected", 10),
    ("agent_ended_call", 8),
    ("human_ended_call", 6),
    ("user_disconnected", 6),
    ("idle_time_exceeded", 4),
    ("max_duration", 3),
    ("custom_end_call", 3),
)
END_REASONS_BY_STATUS = {
    CallStatus.NO_ANSWER: (("timeout", 80), ("undefined", 20)),
    CallStatus.BUSY: (("undefined", 100),),
    CallStatus.FAILED: (("error", 100),),
    CallStatus.LEFT_VOICEMAIL: (("voicemail_message_left", 100),),
    CallStatus.HANGUP_ON_VOICEMAIL: (("voicemail", 70), ("voicemail_cut_off", 30)),
    CallStatus.CANCELED: (("undefined", 100),),
    CallStatus.USER_CANCELED: (("user_canceled", 100),),
    CallStatus.IN_PROGRESS: (("", 100),),
}
CUSTOM_END_REASONS = (
    "Caller asked to be removed from the call list",
    "Caller requested a callback from a person",
    "Wrong number",
)
FAILURES = {
    # channel kind -> (error_message, service, details)
    "phone": (
        ("608: Rejected (carrier spam blocking)", "workflow", {"sip_code": 608}),
        ("404: Not Found (invalid/out-of-service number)", "workflow", {"sip_code": 404}),
        ("487: Request Terminated (callee disconnected before answer)", "workflow",
         {"sip_code": 487}),
        ("429: Rate limit exceeded. Your rate limit per minute is 60.", "workflow",
         {"sip_code": 429, "limit_per_minute": 60}),
        ("LLM request timed out after 30 s", "llm", {"timeout_ms": 30000}),
    ),
    "chat": (
        ("LLM request timed out after 30 s", "llm", {"timeout_ms": 30000}),
        ("Custom action webhook returned HTTP 500", "tool", {"status_code": 500}),
        ("Voice synthesis failed: invalid voice id", "tts", {"voice_id": "v_legacy"}),
    ),
}  # fmt: skip
WARNINGS = (
    ("Slow first byte from speech synthesis", "tts", {"ttfb_ms": 1900}),
    ("Retried LLM request after rate limiting", "llm", {"retry_after_ms": 800}),
    ("Low audio quality, transcription confidence dropped", "stt", {"confidence": 0.61}),
    ("Custom action took longer than 3 s", "tool", {"latency_ms": 3400}),
)
LEAD_SOURCES = (("chat", 35), ("form", 30), ("api", 20), ("import", 15))
# Final funnel stage of a lead and the statuses its calls move it through.
LEAD_JOURNEYS = (
    (("new",), 30),
    (("new", "new"), 10),
    (("new", "qualified"), 12),
    (("qualified",), 8),
    (("new", "qualified", "demo_booked"), 9),
    (("qualified", "demo_booked"), 5),
    (("new", "qualified", "demo_booked", "converted"), 7),
    (("qualified", "demo_booked", "converted"), 4),
    (("qualified", "converted"), 2),
    (("new", "lost"), 7),
    (("new", "qualified", "lost"), 6),
)
# Local hour-of-day shape of call volume (index = hour).
HOUR_WEIGHTS = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.5, 1.2, 2.6, 3.6, 3.9, 3.7,
    3.1, 3.4, 3.7, 3.5, 3.0, 2.3, 1.5, 1.0, 0.7, 0.5, 0.35, 0.2,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.0, 0.95, 0.45, 0.3)


IN_PROGRESS = CallStatus.IN_PROGRESS.value
COMPLETED = CallStatus.COMPLETED.value
FAILED = CallStatus.FAILED.value
CANCELED = CallStatus.CANCELED.value
LEFT_VOICEMAIL = CallStatus.LEFT_VOICEMAIL.value
HANGUP_ON_VOICEMAIL = CallStatus.HANGUP_ON_VOICEMAIL.value
PHONE_ONLY_STATUSES = frozenset(
    s.value
    for s in (
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.LEFT_VOICEMAIL,
        CallStatus.HANGUP_ON_VOICEMAIL,
    )
)

# --- Precomputed catalog --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # Enum members hash by name, not value: keep plain strings in tables and dict keys.
    return value.value if isinstance(value, CallStatus | ActivityType | LeadStatus) else value


def _table(weights: Sequence[tuple[Any, int]]) -> tuple[Any, ...]:
    """A lookup table in which each value appears ``weight`` times: ``t[int(r * len(t))]``."""
    return tuple(_plain(value) for value, weight in weights for _ in range(weight))


def _json(value: Any) -> RawJSON:
    return RawJSON(json.dumps(value, separators=(",", ":")))


@dataclass
class _Conversation:
    """A conversation template with timings, rendered for one agent."""

    # (role, text or None when it needs the caller's name, template text, start_ms, end_ms)
    turns: tuple[tuple[str, str | None, str, int, int], ...]
    seconds: int
    handoff: bool
    end_reasons: tuple[str, ...] | None
    bot_turns: int


@dataclass
class _AgentPlan:
    model_id: str
    name: str
    type: str
    workflow: int  # index into _Catalog.workflows
    phone: str
    stack: dict[str, str]  # provider type -> provider name
    pk: int = 0
    agents_used: RawJSON = field(default_factory=lambda: RawJSON("[]"))
    conversations: dict[int, tuple[_Conversation, ...]] = field(default_factory=dict)
    voicemail: _Conversation | None = None
    voicemail_cut: _Conversation | None = None


@dataclass
class _Catalog:
    company: str
    agents: list[_AgentPlan]
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


def _timed(turns: Sequence[Turn], fill: dict[str, str], rng: Random) -> _Conversation:
    rendered = []
    at = rng.randrange(300, 1200)
    for role, text in turns:
        text = text.replace("{agent}", fill["agent"]).replace("{company}", fill["company"])
        needs_name = "{name}" in text
        speak = (420 if role == "bot" else 300) + len(text) * (62 if role == "bot" else 68)
        start, end = at, at + speak
        rendered.append((role, None if needs_name else text, text, start, end))
        # The agent answers after its response latency; people take a little less.
        at = end + (rng.randrange(650, 1400) if role == "human" else rng.randrange(300, 900))
    return _Conversation(
        turns=tuple(rendered),
        seconds=math.ceil(at / 1000),
        handoff=False,
        end_reasons=None,
        bot_turns=sum(1 for t in turns if t[0] == "bot"),
    )


# Agents confirm who they are talking to before the business of the call.
VERIFY_CALLEE: tuple[Turn, ...] = (
    ("bot", "Before we continue, can I confirm I am speaking with {name}?"),
    ("human", "Yes, speaking."),
)
VERIFY_CALLER: tuple[Turn, ...] = (
    ("bot", "Happy to help. May I have your name, please?"),
    ("human", "Sure, it's {name}."),
)


def _with_verification(template: ConversationTemplate, agent_type: str) -> tuple[Turn, ...]:
    """The template with an identity check after the opening exchange (urgent conversations,
    those handed off, skip it)."""
    if template.handoff:
        return template.turns
    verify = VERIFY_CALLEE if agent_type == "outbound" else VERIFY_CALLER
    return (*template.turns[:2], *verify, *template.turns[2:])


def build_catalog(seed: int) -> _Catalog:
    """Agents, workflows and the tables every call draws from, all derived from ``seed``."""
    rng = Random(f"callscope-demo:{seed}:catalog")
    company = rng.choice(COMPANIES)
    workflows = rng.sample(WORKFLOWS, rng.randint(3, 5))
    if not any(w.slug == "lead-qualification" for w in workflows):
        workflows[0] = WORKFLOWS[0]  # the funnel needs its qualification calls
    names = rng.sample(AGENT_NAMES, rng.randint(4, 6))
    types = ["outbound", "inbound", "widget"]
    types += [rng.choice(("outbound", "outbound", "inbound", "widget")) for _ in names[3:]]
    agents = []
    for i, (name, type_) in enumerate(zip(names, types, strict=True)):
        fitting = [j for j, w in enumerate(workflows) if w.preferred_type == type_]
        workflow = fitting[0] if fitting and i < 3 else i % len(workflows)
        stack = {kind: rng.choice(sorted(options)) for kind, options in PROVIDERS.items()}
        agents.append(
            _AgentPlan(
                model_id=_uuid(rng),
                name=name,
                type=type_,
                workflow=workflow,
                phone=_phone(rng),
                stack=stack,
                agents_used=_json([name]),
            )
        )
    for agent in agents:
        fill = {"agent": agent.name, "company": company}
        for j, spec in enumerate(workflows):
            rendered = []
            for template in spec.conversations:
                conv = _timed(_with_verification(template, agent.type), fill, rng)
                conv.handoff = template.handoff
                conv.end_reasons = template.end_reasons
                rendered.append(conv)
            agent.conversations[j] = tuple(rendered)
        agent.voicemail = _timed((("bot", VOICEMAIL),), fill, rng)
        agent.voicemail_cut = _timed((("bot", VOICEMAIL_CUT),), fill, rng)

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
    return _Catalog(
        company=company,
        agents=agents,
        workflows=workflows,
        workflow_pks=[],
        latency_tables=latency_tables,
    )


def _ensure_catalog(tenant: Tenant, catalog: _Catalog) -> None:
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


# --- Time -----------------------------------------------------------------------------------


class _Timeline:
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


# --- Leads ----------------------------------------------------------------------------------


@dataclass
class _LeadStep:
    """What call ``index`` does to its lead: the lead's identity and the events it writes."""

    lead_index: int
    agent: int
    name: str
    phone: str
    channel: str
    events: list[tuple[str, str, str, RawJSON]]  # (type, dedupe key, description, metadata)
    lead_pk: int = 0


@dataclass
class _LeadPlan:
    lead_id: str
    name: str
    phone: str
    email: str
    source: str
    channel: str
    agent: int
    estimated_value: int | None
    steps: list[tuple[int, str, int]]  # (call index, status after the call, score after)


def _plan_leads(
    *, seed: int, calls: int, days: int, timeline: _Timeline, catalog: _Catalog
) -> tuple[list[_LeadPlan], dict[int, tuple[int, int]]]:
    """Every lead's journey: which calls (by index) move it, to which status and score."""
    rng = Random(f"callscope-demo:{seed}:leads:{calls}:{days}")
    count = max(1, round(calls * LEAD_RATE)) if calls >= 10 else 0
    journeys = _table(LEAD_JOURNEYS)
    sources = _table(LEAD_SOURCES)
    taken: dict[int, tuple[int, int]] = {}  # call index -> (lead, step)
    plans: list[_LeadPlan] = []
    phones: set[str] = set()  # a tenant's phone names one lead (Lead.lead_tenant_phone_uniq)
    for j in range(count):
        journey = journeys[int(rng.random() * len(journeys))]
        agent_index = rng.randrange(len(catalog.agents))
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
        plan = _LeadPlan(
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


def _lead_row_and_events(
    plan: _LeadPlan, tenant_id: int, timeline: _Timeline, calls: int, now: datetime
) -> tuple[tuple[Any, ...], list[list[tuple[str, str, str, dict[str, Any]]]]]:
    """The lead's final row and, per step, the events that step writes (keys without the pk:
    ``{pk}`` is filled in once the lead has one)."""
    lead = Lead(status=LeadStatus.NEW)
    score: int | None = None
    per_step: list[list[tuple[str, str, str, dict[str, Any]]]] = []
    created_at = _dt(timeline.at(plan.steps[0][0], calls))
    for step, (index, status, new_score) in enumerate(plan.steps):
        at = _dt(timeline.at(index, calls))
        old_status, old_score = lead.status, score
        apply_status(lead, status, at)
        score = new_score
        events: list[tuple[str, str, str, dict[str, Any]]] = []
        if step == 0:
            events.append(
                (
                    ActivityType.LEAD_CREATED.value,
                    "lead.created:{pk}",
                    f"New lead {plan.name}.",
                    {"source": plan.source, "channel": plan.channel},
                )
            )
        reached = LEAD_STAGE_ORDER.index(lead.status) if lead.status in LEAD_STAGE_ORDER else -1
        was = LEAD_STAGE_ORDER.index(old_status) if old_status in LEAD_STAGE_ORDER else -1
        meta: dict[str, Any] = {"previousStatus": old_status, "newStatus": lead.status}
        if old_score != score:
            meta["scoreChange"] = {"from": old_score, "to": score}
        if was < 1 <= reached or (step == 0 and reached >= 1):
            events.append(
                (ActivityType.LEAD_QUALIFIED.value, "lead.qualified:{pk}", "Lead qualified.", meta)
            )
        if reached == 3 and was < 3:
            events.append(
                (
                    ActivityType.CONVERSION_COMPLETED.value,
                    "conversion.completed:{pk}",
                    "Lead converted.",
                    meta,
                )
            )
        if step and old_score is not None and abs(score - old_score) >= 15:
            events.append(
                (
                    ActivityType.LEAD_SCORE_CHANGED.value,
                    f"lead.score_changed:{{pk}}:{old_score}:{score}:{{call_id}}",
                    f"Lead score changed from {old_score} to {score}.",
                    {"scoreChange": {"from": old_score, "to": score}},
                )
            )
        per_step.append(events)
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


def _write_leads(
    *,
    writer: BulkWriter,
    tenant: Tenant,
    plans: list[_LeadPlan],
    timeline: _Timeline,
    calls: int,
    now: datetime,
) -> tuple[dict[int, _LeadStep], int]:
    """Writes the leads not written yet; returns the lead step of every lead call by index."""
    rows, step_events = [], []
    for plan in plans:
        row, events = _lead_row_and_events(plan, tenant.pk, timeline, calls, now)
        rows.append(row)
        step_events.append(events)
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

    steps: dict[int, _LeadStep] = {}
    for j, plan in enumerate(plans):
        pk = existing[plan.lead_id]
        for step, (index, _, _) in enumerate(plan.steps):
            steps[index] = _LeadStep(
                lead_index=j,
                agent=plan.agent,
                name=plan.name,
                phone=plan.phone,
                channel=plan.channel,
                events=[
                    (type_, key.replace("{pk}", str(pk)), description, _json(meta))
                    for type_, key, description, meta in step_events[j][step]
                ],
                lead_pk=pk,
            )
    return steps, len(missing)


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
    "created_at",
    "updated_at",
)
# Children: the call's pk comes first in every row.
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


@dataclass
class _Batch:
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


class _CallFactory:
    """Builds the rows of one chunk of calls. Everything per call is a table lookup or a few
    draws from the chunk's random stream."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        catalog: _Catalog,
        timeline: _Timeline,
        calls: int,
        seed: int,
        until: datetime,
        lead_steps: dict[int, _LeadStep],
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
        self.started_meta = {
            (channel, kind): _json({"channel": channel, "typeOfCall": kind})
            for channel in ("phone", "api", "web_chat", "whatsapp", "slack")
            for kind in ("inbound", "outbound", "widget")
        }
        self.variable_values = [
            [(name, [_json(v) for v in values]) for name, values in w.variables]
            for w in catalog.workflows
        ]
        self.intent_json: dict[tuple[str, float, int | None], RawJSON] = {}

    def chunk_ids(self, chunk: int) -> tuple[Random, list[str]]:
        rng = Random(f"callscope-demo:{self.seed}:calls:{chunk}")
        first = chunk * CHUNK
        count = min(CHUNK, self.n - first)
        return rng, [_uuid(rng) for _ in range(count)]

    def build(
        self, chunk: int, rng: Random, call_ids: list[str], pks: list[int | None], out: _Batch
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
        started_meta = self.started_meta
        lead_steps = self.lead_steps
        turns_out, variables_out, actions_out = out.turns, out.variables, out.actions
        latencies_out, errors_out, events_out = out.latencies, out.errors, out.events
        calls_out, lead_events_out = out.calls, out.lead_events
        token_hex = secrets.token_hex

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
            workflow_index = agent.workflow if random() < 0.85 else randrange(len(workflows))
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
            conversation: _Conversation | None = None
            if completed or status == IN_PROGRESS:
                options = agent.conversations[workflow_index]
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

            # Times.
            if status == IN_PROGRESS:
                duration = None
            elif conversation is not None:
                duration = conversation.seconds + randrange(1, 12)
                if end_reason == "max_duration":
                    duration = max(duration, 600)
            else:
                duration = 0
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
            intent_events = []
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
                        if confidence >= 0.8:
                            intent_events.append((intent, confidence, deal))
                        break

            # Children.
            turn_count = 0
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
                            (
                                pk,
                                tenant_id,
                                position,
                                role,
                                text or template.replace("{name}", first_name),
                                t0,
                                t1,
                            )
                        )
                    turn_count = spoken_turns
                responses = 1 if not completed else 2 + (random() < 0.7)
                position = 0
                stack = agent.stack
                for response in range(responses):
                    for kind in ("stt", "llm", "tts"):
                        if kind == "stt" and not completed:
                            continue
                        provider = stack[kind]
                        table = latency_tables[provider]
                        tokens = None
                        if kind == "llm":
                            tokens = randrange(60, 420)
                            llm_tokens += tokens
                        latencies_out.append(
                            (
                                pk,
                                tenant_id,
                                start,
                                position,
                                kind,
                                provider,
                                table[int(random() * len(table))],
                                tokens,
                                # One provider per kind: its first sample is the first response's.
                                response == 0,
                            )
                        )
                        position += 1
            if conversation is not None and not completed:
                # The agent's variables exist for every conversation; a voicemail collects none.
                for name, _ in self.variable_values[workflow_index]:
                    variables_out.append((pk, tenant_id, agent.model_id, name, None, False))
            if completed:
                agent_key = agent.model_id
                for name, values in self.variable_values[workflow_index]:
                    collected = random() < 0.9
                    variables_out.append(
                        (
                            pk,
                            tenant_id,
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
                            (
                                pk,
                                tenant_id,
                                start,
                                agent.pk,
                                type_,
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
                        (
                            pk,
                            tenant_id,
                            start,
                            agent.pk,
                            type_,
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
            if failure is not None:
                errors_out.append(
                    (
                        pk,
                        tenant_id,
                        0,
                        start,
                        failure[1],
                        "error",
                        failure[0],
                        _json(failure[2]),
                        agent.name,
                    )
                )
            elif completed and random() < 0.03:
                warning = WARNINGS[randrange(len(WARNINGS))]
                errors_out.append(
                    (
                        pk,
                        tenant_id,
                        0,
                        start + timedelta(seconds=randrange(1, max(2, duration or 2))),
                        warning[1],
                        "warning",
                        warning[0],
                        _json(warning[2]),
                        agent.name,
                    )
                )

            total_tokens = llm_tokens * 6 + spoken_turns * 40 if conversation else None
            recording = (
                f"https://recordings.callscope.example/{call_id}.wav"
                if is_phone and duration
                else ""
            )
            telephony_start = _dt(start_ms - ringing) if ringing is not None else None
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
                    turn_count,
                    "",
                    empty_object,
                    now,
                    now,
                )
            )

            # Events, as ingestion writes them.
            events_out.append(
                (
                    pk,
                    tenant_id,
                    "evt_" + token_hex(12),
                    ActivityType.CONVERSATION_STARTED.value,
                    lead_pk,
                    "Conversation started.",
                    started_meta[channel, type_],
                    start,
                    f"conversation.started:{call_id}",
                )
            )
            if handoff:
                events_out.append(
                    (
                        pk,
                        tenant_id,
                        "evt_" + token_hex(12),
                        ActivityType.CONVERSATION_HANDOFF.value,
                        lead_pk,
                        "Conversation handed off to a human.",
                        empty_object,
                        end or start,
                        f"conversation.handoff:{call_id}",
                    )
                )
            for intent, confidence, deal in intent_events:
                events_out.append(
                    (
                        pk,
                        tenant_id,
                        "evt_" + token_hex(12),
                        ActivityType.INTENT_HIGH_VALUE.value,
                        lead_pk,
                        f"High-value buying intent detected: {intent}.",
                        _json(
                            {"intent": intent, "confidence": confidence, "estimatedDealSize": deal}
                        ),
                        start,
                        f"intent.high_value:{call_id}:{intent}",
                    )
                )
            if lead_step is not None:
                for type_name, key, description, meta in lead_step.events:
                    lead_events_out.append(
                        (
                            pk,
                            tenant_id,
                            "evt_" + token_hex(12),
                            type_name,
                            lead_pk,
                            description,
                            meta,
                            start,
                            key.replace("{call_id}", call_id),
                        )
                    )
            if pk is not None:
                out.start_times.add(start)


# --- Entry point ----------------------------------------------------------------------------


@dataclass
class SeedSummary:
    calls_written: int = 0
    calls_skipped: int = 0
    leads_written: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def default_until() -> datetime:
    """The default anchor: the start of the current UTC day, so runs on one day agree."""
    return dj_timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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
    timeline = _Timeline(until=until, days=days, zone=tenant.zone, seed=seed)
    plans, _ = _plan_leads(seed=seed, calls=calls, days=days, timeline=timeline, catalog=catalog)
    lead_steps, leads_written = _write_leads(
        writer=writer, tenant=tenant, plans=plans, timeline=timeline, calls=calls, now=now
    )
    factory = _CallFactory(
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
        out = _Batch()
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


def _row_counts(out: _Batch) -> dict[str, int]:
    return {
        "calls": len(out.calls),
        "transcript_turns": len(out.turns),
        "variables": len(out.variables),
        "actions": len(out.actions),
        "latency_samples": len(out.latencies),
        "error_logs": len(out.errors),
        "events": len(out.events) + len(out.lead_events),
    }


def _write_batch(writer: BulkWriter, tenant: Tenant, out: _Batch, *, partial: bool) -> None:
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
        instants = out.start_times | {r[occurred] for r in (*out.events, *out.lead_events)}
        rows_written.send(sender=Call, tenant=tenant, instants=instants)
