"""The fixed material of the demo data: workflows with the business and the agent persona that
run them, their conversation scripts, variables and actions, people, providers, the recorded
conversations shipped as audio, and the weighted tables of statuses, end reasons, failures, lead
journeys and call volume that ``calls.demo.plan`` draws from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calls.enums import CallStatus

# Names of the agents a tenant runs besides each workflow's own persona (WorkflowSpec.agent).
AGENT_NAMES = ("Jake", "Ethan", "Liam", "Olivia", "Grace", "Lucas")
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

# What a call costs, in millionths of a USD: each component per minute of the call (billed by
# the second) and, for a phone call, a telephony part for placing it even when nobody answers.
# A voice call pays speech-to-text, the language model and speech synthesis; a chat only the
# language model.
COST_MICRO_USD_PER_MINUTE = {"stt": 10_000, "llm": 25_000, "tts": 30_000, "telephony": 12_000}
TELEPHONY_MICRO_USD_PER_CALL = 5_000

Turn = tuple[str, str]  # (role, text); "{name}", "{agent}" and "{company}" are filled in


@dataclass(frozen=True)
class ConversationTemplate:
    turns: tuple[Turn, ...]
    # What the caller says of each of the workflow's variables: the values consistent with the
    # turns (a call collects one of them). A variable the conversation does not bring up is
    # left out: its calls do not collect it.
    variables: tuple[tuple[str, tuple[Any, ...]], ...] = ()
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
    """A use case: the business its calls are made for ("{company}" in its scripts), the agent
    persona that runs it ("{agent}"), and what its conversations say, collect and do. Every
    script opens with the agent saying its name and its business."""

    def __post_init__(self) -> None:
        for template in self.conversations:
            unknown = {name for name, _ in template.variables} - set(self.variables)
            if unknown:
                raise ValueError(f"{self.slug}: a conversation sets unknown variables {unknown}")

    slug: str
    name: str
    company: str
    agent: str
    conversations: tuple[ConversationTemplate, ...]
    # The variables its agent collects; each conversation says which values fit it.
    variables: tuple[str, ...]
    actions: tuple[ActionSpec, ...]
    intents: tuple[tuple[str, float, int | None], ...] = ()  # (intent, rate, deal size)
    preferred_type: str = "outbound"


WORKFLOWS: tuple[WorkflowSpec, ...] = (
    WorkflowSpec(
        slug="lead-qualification",
        name="Lead Qualification",
        company="Acme Cloud",
        agent="Sofia",
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
                ),
                variables=(
                    ("team_size", (40,)),
                    ("current_solution", ("IVR and manual callbacks",)),
                    ("timeline", ("within two months",)),
                ),
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
                ),
                variables=(("team_size", (200,)), ("budget", (50000,))),
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
                ),
                # "A very small team": a handful of people.
                variables=(("team_size", (2, 3, 4, 5, 8)), ("timeline", ("unknown",))),
            ),
        ),
        variables=("team_size", "current_solution", "timeline", "budget"),
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
        company="Northwind Dental",
        agent="Noah",
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
                ),
                variables=(
                    ("appointment_slot", ("Tuesday 2:15 PM",)),
                    ("appointment_confirmed", (True,)),
                    ("reminder_channel", ("email",)),
                ),
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
                ),
                variables=(
                    ("appointment_slot", ("Friday 11:00 AM",)),
                    ("appointment_confirmed", (True,)),
                ),
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
                variables=(("appointment_confirmed", (False,)),),
                end_reasons=("human_goodbye", "goodbye_detected"),
            ),
        ),
        variables=("appointment_slot", "appointment_confirmed", "reminder_channel"),
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
        company="Harbor Outfitters",
        agent="Emma",
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
                ),
                variables=(
                    ("issue_type", ("login",)),
                    ("resolved", (True,)),
                    ("account_verified", (True,)),
                ),
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
                variables=(
                    ("issue_type", ("billing",)),
                    ("resolved", (False,)),
                    ("account_verified", (True,)),
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
                ),
                variables=(
                    ("issue_type", ("order change",)),
                    ("resolved", (True,)),
                    ("account_verified", (True,)),
                ),
            ),
        ),
        variables=("issue_type", "resolved", "account_verified"),
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
        company="Brightside Health",
        agent="Mia",
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
                ),
                variables=(
                    ("feeling", ("good",)),
                    ("medication_taken", (True,)),
                    ("symptoms", ("headache",)),
                    ("sleep_hours", (7,)),
                ),
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
                variables=(("feeling", ("unwell",)), ("symptoms", ("short of breath",))),
                handoff=True,
                end_reasons=("agent_ended_call",),
            ),
        ),
        variables=("feeling", "medication_taken", "symptoms", "sleep_hours"),
        actions=(
            ActionSpec("log_check_in", "CUSTOM_ACTION", 0.95, 0.98, 380.0,
                       "Writes the check-in to the care record"),
        ),
    ),
    WorkflowSpec(
        slug="payment-reminder",
        name="Payment Reminder",
        company="Bluebird Insurance",
        agent="Leo",
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
                ),
                variables=(
                    ("amount_due", (89,)),
                    ("promise_to_pay", (True,)),
                    ("payment_link_sent", (True,)),
                ),
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
                ),
                # Paid already: nothing promised, no link sent.
                variables=(("promise_to_pay", (False,)), ("payment_link_sent", (False,))),
            ),
        ),
        variables=("amount_due", "promise_to_pay", "payment_link_sent"),
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
        company="Harbor Outfitters",
        agent="Ava",
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
                ),
                variables=(
                    ("order_number", ("78123",)),
                    ("request", ("track",)),
                    ("satisfied", (True,)),
                ),
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
                ),
                variables=(("request", ("return",)), ("satisfied", (True,))),
            ),
        ),
        variables=("order_number", "request", "satisfied"),
        actions=(
            ActionSpec("lookup_order", "CUSTOM_ACTION", 0.9, 0.97, 300.0,
                       "Fetches the order from the shop"),
            ActionSpec("rate_conversation", "CUSTOM_EVAL", 0.3, 1.0, 90.0,
                       "Scores the conversation against the rubric"),
        ),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RecordedConversation:
    """A conversation of a workflow's persona shipped as audio (a static file of the calls app),
    so that the demo's call pages play a real recording. Its calls are the persona's completed
    phone calls with this script and this caller; their transcript offsets and duration are the
    audio's.

    The audio was synthesised once with espeak-ng (agent and caller in different voices, the
    turns in order with the pauses of ``turns``) and encoded as Ogg/Opus, mono, 8 kbit/s; the
    README says how (section "Demo data")."""

    workflow: str  # WorkflowSpec.slug; spoken by that workflow's persona
    template: int  # index into the workflow's conversations
    caller: str  # the caller's first name, as spoken ("{name}")
    file: str  # path under the calls app's static files
    turns: tuple[tuple[int, int], ...]  # (start_ms, end_ms) of each turn, measured in the audio
    seconds: int  # length of the audio, rounded up


RECORDED_CONVERSATIONS: tuple[RecordedConversation, ...] = (
    RecordedConversation(
        workflow="lead-qualification",
        template=2,
        caller="Eddie",
        file="calls/demo/recordings/lead-qualification.ogg",
        turns=(
            (500, 7231), (7680, 10324), (11023, 14286), (14735, 15799), (16498, 21722),
            (22171, 23600), (24299, 27480),
        ),
        seconds=28,
    ),
    RecordedConversation(
        workflow="appointment-booking",
        template=2,
        caller="Maria",
        file="calls/demo/recordings/appointment-booking.ogg",
        turns=(
            (500, 6385), (6834, 9285), (9984, 13198), (13647, 14587), (15286, 18410),
            (18859, 20227), (20926, 24428), (24877, 25757),
        ),
        seconds=27,
    ),
    RecordedConversation(
        workflow="customer-support",
        template=1,
        caller="Tom",
        file="calls/demo/recordings/customer-support.ogg",
        turns=(
            (500, 5407), (5856, 8250), (8949, 12298), (12746, 15353), (16052, 22715),
            (23163, 24388), (25087, 27877),
        ),
        seconds=29,
    ),
)  # fmt: skip

VOICEMAIL = (
    "Hi {name}, this is {agent} from {company}. Sorry I missed you. Please call us back when it "
    "suits you. Thank you!"
)
VOICEMAIL_CUT = "Hi, this is {agent} from {company}, I am calling about"

# Agents confirm who they are talking to before the business of the call.
VERIFY_CALLEE: tuple[Turn, ...] = (
    ("bot", "Before we continue, can I confirm I am speaking with {name}?"),
    ("human", "Yes, speaking."),
)
VERIFY_CALLER: tuple[Turn, ...] = (
    ("bot", "Happy to help. May I have your name, please?"),
    ("human", "Sure, it's {name}."),
)

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
# No "max_duration": a scripted conversation ends on its own, long before any maximum duration.
COMPLETED_END_REASONS = (
    ("agent_goodbye", 34),
    ("human_goodbye", 26),
    ("goodbye_detected", 10),
    ("agent_ended_call", 8),
    ("human_ended_call", 6),
    ("user_disconnected", 6),
    ("idle_time_exceeded", 4),
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
