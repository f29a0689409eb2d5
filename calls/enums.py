"""Enumerations shared by ingestion, the read APIs and analytics.

Values follow Synthflow's published enumerations (its webhook and API reference); where its lists
disagree, the union is used.
"""

from __future__ import annotations

from django.db import models


class CallStatus(models.TextChoices):
    PENDING = "pending"
    QUEUE = "queue"
    INITIATED = "initiated"
    CHECKING = "checking"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    PAUSED = "paused"
    REGISTERED = "registered"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    USER_CANCELED = "user-canceled"
    HANGUP_ON_VOICEMAIL = "hangup_on_voicemail"
    LEFT_VOICEMAIL = "left_voicemail"
    SPAM = "spam"


# Status only moves forward: a document whose status ranks lower than the stored one keeps the
# stored status. Statuses of equal rank may replace each other (a platform correcting a final
# status, e.g. completed -> left_voicemail).
STATUS_RANK: dict[str, int] = {
    CallStatus.PENDING: 0,
    CallStatus.QUEUE: 0,
    CallStatus.INITIATED: 0,
    CallStatus.CHECKING: 0,
    CallStatus.REGISTERED: 0,
    CallStatus.RINGING: 1,
    CallStatus.IN_PROGRESS: 2,
    CallStatus.PAUSED: 2,
    CallStatus.COMPLETED: 3,
    CallStatus.NO_ANSWER: 3,
    CallStatus.BUSY: 3,
    CallStatus.FAILED: 3,
    CallStatus.CANCELED: 3,
    CallStatus.USER_CANCELED: 3,
    CallStatus.HANGUP_ON_VOICEMAIL: 3,
    CallStatus.LEFT_VOICEMAIL: 3,
    CallStatus.SPAM: 3,
}

# Statuses of a call that may still be live; a call is "active" in one of them and started less
# than ``ACTIVE_CALL_STALE_AFTER_SECONDS`` ago (``calls.models.active_q``).
ACTIVE_STATUSES = (
    CallStatus.INITIATED,
    CallStatus.QUEUE,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
)

# End reasons Synthflow is known to send; the field itself is open text.
KNOWN_END_CALL_REASONS = (
    "human_pick_up_cut_off",
    "voicemail",
    "voicemail_cut_off",
    "voicemail_message_left",
    "agent_ended_call",
    "human_ended_call",
    "agent_goodbye",
    "human_goodbye",
    "goodbye_detected",
    "human_hangup",
    "user_disconnected",
    "max_duration",
    "idle_time_exceeded",
    "timeout",
    "custom_end_call",
    "user_canceled",
    "error",
    "undefined",
)

# A completed call that ended for one of these reasons is successful when the document does not
# say (``calls.models.successful_q``).
SUCCESSFUL_END_CALL_REASONS = (
    "agent_goodbye",
    "human_goodbye",
    "goodbye_detected",
    "agent_ended_call",
    "human_ended_call",
)


class CallPlatform(models.TextChoices):
    """The voice-agent platform a call came from (``calls.platforms``); a native document may
    name one or leave it out."""

    SYNTHFLOW = "synthflow"
    VAPI = "vapi"
    RETELL = "retell"
    ELEVENLABS = "elevenlabs", "ElevenLabs"
    BLAND = "bland"
    TWILIO = "twilio"


class CostComponent(models.TextChoices):
    """What a call's cost breakdown (``Call.cost_breakdown``) splits its USD total into."""

    STT = "stt"
    LLM = "llm"
    TTS = "tts"
    TELEPHONY = "telephony"
    PLATFORM = "platform"
    OTHER = "other"


class CallType(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    WIDGET = "widget"


class Channel(models.TextChoices):
    PHONE = "phone"
    WEB_CHAT = "web_chat"
    WHATSAPP = "whatsapp"
    SLACK = "slack"
    API = "api"


class Sentiment(models.TextChoices):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class TurnRole(models.TextChoices):
    BOT = "bot"
    HUMAN = "human"
    TOOL = "tool"
    SYSTEM = "system"


class ProviderType(models.TextChoices):
    STT = "stt"
    LLM = "llm"
    TTS = "tts"


class ErrorService(models.TextChoices):
    STT = "stt"
    LLM = "llm"
    TTS = "tts"
    WORKFLOW = "workflow"
    TOOL = "tool"


class ErrorLevel(models.TextChoices):
    ERROR = "error"
    WARNING = "warning"


class LeadStatus(models.TextChoices):
    NEW = "new"
    QUALIFIED = "qualified"
    DEMO_BOOKED = "demo_booked"
    CONVERTED = "converted"
    LOST = "lost"


# The funnel order; ``lost`` is reachable from any stage and ends the lead's progress.
LEAD_STAGE_ORDER: tuple[str, ...] = (
    LeadStatus.NEW,
    LeadStatus.QUALIFIED,
    LeadStatus.DEMO_BOOKED,
    LeadStatus.CONVERTED,
)


class LeadSource(models.TextChoices):
    CHAT = "chat"
    API = "api"
    IMPORT = "import"
    FORM = "form"


class TelephonyHangup(models.TextChoices):
    CALLER = "caller"
    CALLEE = "callee"


class ActivityType(models.TextChoices):
    CONVERSATION_STARTED = "conversation.started"
    CONVERSATION_HANDOFF = "conversation.handoff"
    LEAD_CREATED = "lead.created"
    LEAD_QUALIFIED = "lead.qualified"
    CONVERSION_COMPLETED = "conversion.completed"
    LEAD_SCORE_CHANGED = "lead.score_changed"
    INTENT_HIGH_VALUE = "intent.high_value"
