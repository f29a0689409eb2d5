"""The call log: tenants, their API keys, and every call with everything it carries.

Every tenant-owned row carries ``tenant`` (children of a call reach it through ``call``, except the
tables analytics scans by window, which carry ``tenant`` themselves). Indexes are named; each says
which query needs it.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import JSONField, Q, Value
from django.dispatch import Signal
from django.utils import timezone

from calls.enums import (
    ACTIVE_STATUSES,
    SUCCESSFUL_END_CALL_REASONS,
    ActivityType,
    CallPlatform,
    CallStatus,
    CallType,
    Channel,
    ErrorLevel,
    ErrorService,
    LeadSource,
    LeadStatus,
    ProviderType,
    Sentiment,
    TelephonyHangup,
    TurnRole,
)


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone name.") from None


def _random_token() -> str:
    return secrets.token_urlsafe(24)


def hash_webhook_token(token: str) -> str:
    """SHA-256 of a webhook URL token: the tenant is looked up by this, so the database never
    compares the secret token itself (calls.webhook_credentials)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tenant(models.Model):
    """A workspace. Its ``timezone`` defines the calendar days of its analytics."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # The post-call webhook URL carries this token; the secret signs each delivery.
    webhook_token = models.CharField(max_length=64, unique=True, default=_random_token)
    webhook_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    webhook_secret = models.CharField(max_length=128, default=_random_token)
    # How long the raw payloads of platform webhook deliveries (``WebhookDelivery``) are kept:
    # long enough to rebuild calls after a mapping fix, short enough not to hoard call content.
    delivery_retention_days = models.PositiveIntegerField(
        # Also the database's default: code deployed before this column still creates tenants.
        default=30,
        db_default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Days a platform webhook delivery's payload is kept.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The hash always follows the token: the webhook view finds the tenant by it.
        self.webhook_token_hash = hash_webhook_token(self.webhook_token)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "webhook_token" in update_fields:
            kwargs["update_fields"] = {*update_fields, "webhook_token_hash"}
        super().save(*args, **kwargs)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TenantMembership(models.Model):
    """A staff user's access to a tenant in the admin. Superusers see every tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant}"


API_KEY_PREFIX = "cs_"
API_KEY_PUBLIC_PREFIX_LENGTH = 12  # "cs_" + 9 characters of the secret, shown in the admin


def hash_api_key(raw_key: str) -> str:
    """SHA-256 of the key. Keys carry 256 random bits, so a fast hash is as strong as a slow one."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyScope(models.TextChoices):
    """What a key may do. ``read``: every GET of the REST APIs and the WebSocket streams (and
    the tickets that open them); ``ingest``: every write (calls, leads); ``all``: both."""

    # Each label starts with its value: the value is what the command, the help texts and a
    # refused request's 403 say.
    READ = "read", "read"
    INGEST = "ingest", "ingest"
    ALL = "all", "all (read and ingest)"


# The permissions (``read``, ``ingest``) each stored scope grants. A value missing here (a row
# written by hand or by a later version) grants nothing: keys fail closed.
API_KEY_SCOPE_GRANTS: dict[str, frozenset[str]] = {
    ApiKeyScope.READ: frozenset({"read"}),
    ApiKeyScope.INGEST: frozenset({"ingest"}),
    ApiKeyScope.ALL: frozenset({"read", "ingest"}),
}


def scopes_granting(permission: str) -> list[str]:
    """The stored scope values that grant ``permission`` (for queries)."""
    return [scope for scope, grants in API_KEY_SCOPE_GRANTS.items() if permission in grants]


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self, *, at: datetime | None = None) -> ApiKeyQuerySet:
        """Keys neither revoked nor expired at ``at`` (default now)."""
        at = at or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=at)
        )

    def expired(self, *, at: datetime | None = None) -> ApiKeyQuerySet:
        """Keys not revoked whose expiry has come at ``at`` (default now)."""
        return self.filter(revoked_at__isnull=True, expires_at__lte=at or timezone.now())


class ApiKey(models.Model):
    """A tenant's API credential, stored only as a hash plus a short public prefix."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=API_KEY_PUBLIC_PREFIX_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    scope = models.CharField(
        max_length=16,
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.ALL,
        help_text="read: GET requests and live streams; ingest: writes; all: both.",
    )
    # From this instant on the key is refused as a revoked one is; null: it never expires.
    # Entered and shown in UTC everywhere (admin, ``create_api_key``), whatever the tenant's zone.
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="In UTC. Leave empty for a key that does not expire.",
    )

    objects = ApiKeyQuerySet.as_manager()

    # How stale ``last_used_at`` may get before a request rewrites it: one write per key a minute,
    # not one per request.
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    class Meta:
        verbose_name = "API key"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def grants(self, permission: str) -> bool:
        """Whether the key's scope allows ``permission`` (``read`` or ``ingest``)."""
        return permission in API_KEY_SCOPE_GRANTS.get(self.scope, frozenset())


class Agent(models.Model):
    """A voice agent (Synthflow's "model" / assistant), identified by its external ``model_id``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="agents")
    model_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=16, choices=CallType.choices, blank=True)

    class Meta:
        ordering = ("name", "model_id")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "model_id"], name="agent_tenant_model_uniq"),
        ]

    def __str__(self) -> str:
        return self.name or self.model_id


class Workflow(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="workflows")
    slug = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("name", "slug")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="workflow_tenant_slug_uniq"),
        ]

    def __str__(self) -> str:
        return self.name or self.slug


class Lead(models.Model):
    """A contact moving through the funnel new → qualified → demo_booked → converted (or lost).

    A lead is matched by ``lead_id``, else by phone, and the phone is the fallback of every
    write: a document whose ``lead_id`` is unknown still lands on the lead that has its phone.
    So a tenant's phone number names at most one lead, whatever ids its writers carry, and
    ``lead_tenant_phone_uniq`` holds the database to that (leads without a phone are exempt).
    The constraint covers leads with an external ``lead_id`` too: ids Callscope generates have
    the same ``lead_…`` shape, so no column could tell the two kinds apart for existing rows,
    and a constraint on phone-only leads would still let a writer with an unknown id and one
    without an id both create a lead for the same new phone. The constraint is what makes
    concurrent creators of a lead converge (``calls.leads.apply_lead``); a write that would move
    a lead onto another lead's phone is refused (``LeadPhoneTaken``).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="leads")
    lead_id = models.CharField(max_length=64)
    phone_number = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=LeadSource.choices, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    estimated_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # When the lead was created and reached each stage (in the time of the call that moved it).
    created_at = models.DateTimeField(default=timezone.now)
    qualified_at = models.DateTimeField(null=True, blank=True)
    demo_booked_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "lead_id"], name="lead_tenant_lead_id_uniq"),
            # One lead per phone (see the docstring). Also the index ingestion matches leads by
            # phone with (a query by a long list of phones repeats the condition to use it).
            models.UniqueConstraint(
                fields=["tenant", "phone_number"],
                condition=~models.Q(phone_number=""),
                name="lead_tenant_phone_uniq",
            ),
        ]
        indexes: ClassVar = [
            # Sales overview/funnel: leads created in a window, and leads reaching each stage in
            # a window (by the stage's stamp).
            models.Index(fields=["tenant", "created_at"], name="lead_tenant_created_idx"),
            models.Index(fields=["tenant", "qualified_at"], name="lead_tenant_qualified_idx"),
            models.Index(fields=["tenant", "demo_booked_at"], name="lead_tenant_demo_idx"),
            models.Index(fields=["tenant", "converted_at"], name="lead_tenant_converted_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.phone_number or self.lead_id


# --- What a call counts as -------------------------------------------------------------------
# The call list, the export, the admin and every analytics number ask these; nothing else decides
# what "successful" or "active" means.


def successful_q() -> Q:
    """Calls that count as successful: ``success`` as the document said, else derived from a
    completed status and a goodbye-like end reason (``SUCCESSFUL_END_CALL_REASONS``)."""
    return Q(success=True) | Q(
        success__isnull=True,
        status=CallStatus.COMPLETED,
        end_call_reason__in=SUCCESSFUL_END_CALL_REASONS,
    )


def is_successful(*, success: bool | None, status: str, end_call_reason: str) -> bool:
    """``successful_q`` for one call held in memory (a loaded call, an export row)."""
    if success is not None:
        return success
    return status == CallStatus.COMPLETED and end_call_reason in SUCCESSFUL_END_CALL_REASONS


def stale_after() -> timedelta:
    """How long after its start a call in a live status stops counting as active."""
    return timedelta(seconds=settings.ACTIVE_CALL_STALE_AFTER_SECONDS)


def active_q(at: datetime) -> Q:
    """Calls active at ``at``: in a live status and started less than ``stale_after()`` ago."""
    return started_live_after(at - stale_after())


def started_live_after(instant: datetime) -> Q:
    """Calls in a live status started after ``instant``: ``active_q`` of ``instant +
    stale_after()``, for a read that passes the instant itself as a value."""
    return Q(status__in=ACTIVE_STATUSES, start_time__gt=instant)


class CallQuerySet(models.QuerySet["Call"]):
    def successful(self) -> CallQuerySet:
        return self.filter(successful_q())

    def active(self, *, at: datetime) -> CallQuerySet:
        return self.filter(active_q(at))


class Call(models.Model):
    """One conversation: a phone call, a widget or a chat session."""

    tenant = models.ForeignKey(
        # Every index below starts with tenant, so the FK's own index would be redundant.
        Tenant,
        on_delete=models.CASCADE,
        related_name="calls",
        db_index=False,
    )
    call_id = models.CharField(max_length=100)
    agent = models.ForeignKey(
        Agent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="calls",
        db_index=False,  # see call_agent_tenant_idx
    )
    workflow = models.ForeignKey(
        Workflow, on_delete=models.PROTECT, null=True, blank=True, related_name="calls"
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )

    status = models.CharField(max_length=24, choices=CallStatus.choices)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="seconds")
    end_call_reason = models.CharField(max_length=64, blank=True)
    custom_end_call_reason = models.TextField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    type_of_call = models.CharField(max_length=16, choices=CallType.choices, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)

    name = models.CharField(max_length=200, blank=True)
    lead_name = models.CharField(max_length=200, blank=True)
    lead_phone_number = models.CharField(max_length=32, blank=True)
    phone_number_from = models.CharField(max_length=32, blank=True)
    phone_number_to = models.CharField(max_length=32, blank=True)
    agent_phone_number = models.CharField(max_length=32, blank=True)

    recording_url = models.URLField(max_length=1000, blank=True)
    recording_duration = models.CharField(max_length=32, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    campaign_type = models.CharField(max_length=32, blank=True)
    deployment_type = models.CharField(max_length=32, blank=True)
    labels = models.JSONField(default=list, blank=True)
    agents_used = models.JSONField(default=list, blank=True)
    prompt_variables = models.JSONField(default=dict, blank=True)
    judge_results = models.JSONField(null=True, blank=True)
    intents = models.JSONField(default=list, blank=True)

    telephony_hangup = models.CharField(max_length=16, choices=TelephonyHangup.choices, blank=True)
    telephony_disconnect_reason = models.CharField(max_length=32, blank=True)
    telephony_duration = models.PositiveIntegerField(null=True, blank=True, help_text="ms")
    telephony_ringing_duration = models.PositiveIntegerField(null=True, blank=True, help_text="ms")
    telephony_start = models.DateTimeField(null=True, blank=True)
    telephony_end = models.DateTimeField(null=True, blank=True)

    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, null=True, blank=True)
    # As the document said; null when it did not (``successful_q`` derives it).
    success = models.BooleanField(null=True, blank=True)
    handoff = models.BooleanField(default=False)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    response_time_ms = models.FloatField(null=True, blank=True)
    # How many transcript turns the call has, kept with the turns by every writer: analytics sums
    # it (messages per conversation) without reading the turns table.
    turn_count = models.PositiveIntegerField(default=0, editable=False)

    # The platform the call came from and its own end reason verbatim (``end_call_reason`` holds
    # the normalised one cross-platform analytics count). Database defaults too: bulk writers
    # (``calls.demo``, ``COPY``) leave these columns out.
    platform = models.CharField(
        max_length=16, choices=CallPlatform.choices, blank=True, default="", db_default=""
    )
    platform_end_reason = models.CharField(max_length=255, blank=True, default="", db_default="")
    # Total cost in USD, and by component (``calls.enums.CostComponent``: decimal strings in
    # USD); empty when nobody sent a USD figure (never converted by guesswork).
    cost_usd = models.DecimalField(
        max_digits=16, decimal_places=6, null=True, blank=True, help_text="USD"
    )
    cost_breakdown = models.JSONField(default=dict, blank=True, db_default=Value({}, JSONField()))
    # Top-level fields of a document that Callscope does not model, kept as sent.
    extra = models.JSONField(default=dict, blank=True, db_default=Value({}, JSONField()))

    # Bookkeeping for idempotent upserts: the hash of the last document applied, and of each child
    # list as stored, so a resend is recognised without re-reading the children.
    document_hash = models.CharField(max_length=64, blank=True, editable=False)
    child_hashes = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ("-start_time", "-id")
        constraints: ClassVar = [
            # Upsert key; also serves GET /v2/calls/{call_id}.
            models.UniqueConstraint(fields=["tenant", "call_id"], name="call_tenant_call_id_uniq"),
        ]
        indexes: ClassVar = [
            # Native call list (newest first), admin changelist, every analytics window.
            models.Index(fields=["tenant", "-start_time", "-id"], name="call_tenant_start_idx"),
            # GET /v2/calls?model_id=… newest first (model_id is required there).
            models.Index(
                fields=["tenant", "agent", "-start_time", "-id"], name="call_tenant_agent_start_idx"
            ),
            # The agent foreign key's index, with the tenant: GET /v2/calls counts one agent's
            # calls (total_records) from this small index alone.
            models.Index(fields=["agent", "tenant"], name="call_agent_tenant_idx"),
            # call_status / status filters and active-calls (recent calls in live statuses).
            models.Index(fields=["tenant", "status", "-start_time"], name="call_tenant_status_idx"),
            # The admin's search by the beginning of a call id (``LIKE 'abc%'``): the unique
            # index orders by the database's collation, which LIKE cannot use unless it is "C";
            # the pattern operator class compares characters as bytes, as LIKE does.
            models.Index(
                fields=["tenant", "call_id"],
                name="call_tenant_call_id_prefix_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            # lead_phone_number filter and the admin's phone search.
            models.Index(
                fields=["tenant", "lead_phone_number", "-start_time"], name="call_tenant_phone_idx"
            ),
            # workflow filter of the native list and workflow-stats.
            models.Index(
                fields=["tenant", "workflow", "-start_time"], name="call_tenant_workflow_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.call_id


_CopiesTenant = TypeVar("_CopiesTenant", bound="CopiesCallTenant")


class CallTenantCopyQuerySet(models.QuerySet[_CopiesTenant]):
    def bulk_create(  # type: ignore[override]
        self, objs: Iterable[_CopiesTenant], *args: Any, **kwargs: Any
    ) -> list[_CopiesTenant]:
        """Fills each row's ``tenant`` from its call when the caller left it out."""
        rows = list(objs)
        for row in rows:
            row.copy_tenant()
        # Django fills and returns the very objects it is given.
        super().bulk_create(rows, *args, **kwargs)
        return rows


class CopiesCallTenant(models.Model):
    """A child row of a call that copies the call's ``tenant``, so that an index can lead with
    the tenant and a lookup reads only its own tenant's entries. Every writer sets it;
    ``save`` and ``bulk_create`` (``CallTenantCopyQuerySet``) fill it from the call when left
    out."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.copy_tenant()
        super().save(*args, **kwargs)

    def copy_tenant(self) -> None:
        """Sets ``tenant`` to the call's when it is not set yet."""
        if self.tenant_id is None and getattr(self, "call_id", None) is not None:
            self.tenant_id = self.call.tenant_id  # type: ignore[attr-defined]


class TranscriptTurn(CopiesCallTenant):
    """One turn of a call's transcript. ``tenant`` copies the call's, so that the full-text
    index can lead with the tenant: a search reads only its own tenant's index entries
    (migration 0010, ``calls.queries.plan_transcript_search``)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns", db_index=False)
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=8, choices=TurnRole.choices)
    text = models.TextField()
    start_ms = models.PositiveIntegerField(null=True, blank=True)
    end_ms = models.PositiveIntegerField(null=True, blank=True)

    objects = CallTenantCopyQuerySet["TranscriptTurn"].as_manager()

    class Meta:
        ordering = ("call", "position")
        constraints: ClassVar = [
            # Also the index that reads a call's transcript in order.
            models.UniqueConstraint(fields=["call", "position"], name="turn_call_position_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class CollectedVariable(CopiesCallTenant):
    """A variable the agent collected during a call. ``tenant`` copies the call's, so that the
    ``var.<name>=<value>`` index can lead with the tenant: a filter reads only its own tenant's
    index entries (migration 0013, ``calls.queries.filter_variables``)."""

    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="variables", db_index=False
    )
    agent_key = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    value = models.JSONField(null=True, blank=True)
    collected = models.BooleanField(default=True)

    objects = CallTenantCopyQuerySet["CollectedVariable"].as_manager()

    class Meta:
        ordering = ("call", "agent_key", "name")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["call", "agent_key", "name"], name="variable_call_agent_name_uniq"
            ),
        ]
        indexes: ClassVar = [
            # ``var.<name>=<value>`` filters (``queries.filter_variables``): the calls of one
            # tenant with a variable of that name and value, read from one index range without
            # the rows and without other tenants' entries.
            models.Index(
                fields=["tenant", "name", "value", "call"], name="variable_tenant_name_value_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_key}.{self.name}"


class ExecutedAction(models.Model):
    """One action the agent executed. ``tenant``, ``start_time``, ``agent`` and ``type_of_call``
    copy the call's (ingestion keeps them equal), so a window's actions, grouped or filtered by
    agent and type, are one index range scan instead of a join over the calls."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="actions", db_index=False)
    start_time = models.DateTimeField()
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, null=True, blank=True, db_index=False, related_name="+"
    )
    type_of_call = models.CharField(max_length=16, choices=CallType.choices, blank=True)
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    action_type = models.CharField(max_length=64, blank=True)
    success = models.BooleanField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    # The action as the platform sent it (Synthflow's description, parameters, return value…).
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("call", "position")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["call", "position"], name="action_call_position_uniq"),
        ]
        indexes: ClassVar = [
            # executed_actions blocks and action rollups: a tenant's actions in a call-start window.
            models.Index(fields=["tenant", "start_time"], name="action_tenant_start_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class LatencySample(models.Model):
    """One provider latency measurement. ``tenant`` and ``start_time`` copy the call's, so the
    provider-latency window is one index range scan instead of a join over every call. A sample
    names no transcript turn: the n-th of a provider type is the call's n-th reply
    (``agent_replies``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="latencies")
    start_time = models.DateTimeField()
    position = models.PositiveIntegerField()
    provider_type = models.CharField(max_length=8, choices=ProviderType.choices)
    provider_name = models.CharField(max_length=64, blank=True)
    latency_ms = models.FloatField()
    tokens = models.PositiveIntegerField(null=True, blank=True)
    # Whether this is the call's first sample of its provider (type and name), set by every
    # writer from the call's whole list: counting these counts the calls per provider without a
    # DISTINCT over every sample.
    first_of_provider = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ("call", "position")
        indexes: ClassVar = [
            # provider-latency: samples of a tenant by provider type in a call-start window.
            models.Index(
                fields=["tenant", "provider_type", "start_time"], name="latency_tenant_type_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_type}/{self.provider_name}: {self.latency_ms} ms"


def agent_replies(turns: Iterable[tuple[int, str, int | None]]) -> list[tuple[int, int | None]]:
    """The agent's replies among a call's transcript turns ``(position, role, start ms)`` in
    order: each bot turn that answers a human turn (an opening greeting answers nobody), as
    ``(position, start ms)``.

    Latency samples belong to replies: platforms measure a speech-to-text, an LLM and a
    text-to-speech latency each time the agent answers, in order, so a call's n-th sample of
    each provider type is its n-th reply's. A sample carries no turn of its own; one past the
    last reply of its transcript has none."""
    replies = []
    heard = False
    for position, role, start_ms in turns:
        if role == TurnRole.HUMAN:
            heard = True
        elif role == TurnRole.BOT and heard:
            replies.append((position, start_ms))
            heard = False
    return replies


class ErrorLog(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, null=True, blank=True, related_name="errors"
    )
    position = models.PositiveIntegerField(default=0)
    timestamp = models.DateTimeField()
    service = models.CharField(max_length=16, choices=ErrorService.choices)
    level = models.CharField(max_length=8, choices=ErrorLevel.choices, default=ErrorLevel.ERROR)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    agent_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-timestamp", "-id")
        indexes: ClassVar = [
            # analytics/errors: a tenant's errors in a window, newest first.
            models.Index(fields=["tenant", "-timestamp", "-id"], name="errorlog_tenant_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.level}: {self.message[:40]}"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


class ActivityEvent(models.Model):
    """Something that happened, written by the service that made it happen."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    event_id = models.CharField(max_length=32, unique=True, default=new_event_id)
    type = models.CharField(max_length=32, choices=ActivityType.choices)
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    # What makes an event the same event again (e.g. "lead.qualified:<lead pk>"): a resend or a
    # concurrent duplicate cannot write it twice.
    dedupe_key = models.CharField(max_length=200, editable=False)

    class Meta:
        ordering = ("-occurred_at", "-id")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "dedupe_key"], name="event_tenant_dedupe_uniq"
            ),
        ]
        indexes: ClassVar = [
            # analytics/activity feed: newest first in a window, optionally by type.
            models.Index(
                fields=["tenant", "-occurred_at", "-id"], name="event_tenant_occurred_idx"
            ),
            models.Index(fields=["tenant", "type", "-occurred_at"], name="event_tenant_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class SynthflowDelivery(models.Model):
    """The Synthflow post-call delivery last applied to a call.

    Synthflow signs only the call id, so every delivery of a call carries the same signature and
    the signature proves nothing about the body. A call with this row was written by a signed
    delivery; a later delivery may then only repeat it (same ``body_hash``: nothing to do) or move
    the call's status forward (``calls.webhook_ingest``).
    """

    call = models.OneToOneField(
        Call, on_delete=models.CASCADE, primary_key=True, related_name="synthflow_delivery"
    )
    # canonical_hash of the webhook payload last applied.
    body_hash = models.CharField(max_length=64)
    applied_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Synthflow delivery of call {self.call_id}"


class PlatformConnection(models.Model):
    """A tenant's webhook connection to one voice-agent platform (``calls.platforms``).

    The platform posts to ``/api/v1/webhooks/<platform>/<webhook_token>``. The token is found by
    its SHA-256 and compared in constant time, as the Synthflow token is
    (``calls.webhook_credentials``). The signing secret is kept encrypted
    (``calls.encryption``); after a rotation the previous one stays valid until
    ``previous_secret_expires_at``, so deliveries the platform signed before it picked up the new
    secret still verify. ``calls.platform_connections`` creates and rotates; nothing else writes
    the secrets.
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        related_name="platform_connections",
        # The (tenant, platform) constraint's index serves the tenant's lookups.
        db_index=False,
    )
    # A name of ``calls.platforms.PLATFORMS`` (the URL segment).
    platform = models.CharField(max_length=16)
    webhook_token = models.CharField(max_length=64, unique=True, default=_random_token)
    webhook_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The platform's credential kind (one of the module's ``schemes``) and, for schemes that
    # send the secret itself, the header that carries it.
    scheme = models.CharField(max_length=32, blank=True)
    header_name = models.CharField(max_length=100, blank=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Deliveries refused since the connection was created (bad signature or payload).
    failure_count = models.PositiveIntegerField(default=0, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ("tenant", "platform")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "platform"], name="connection_tenant_platform_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform} ({self.tenant})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The hash always follows the token: the receiver finds the connection by it.
        self.webhook_token_hash = hash_webhook_token(self.webhook_token)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "webhook_token" in update_fields:
            kwargs["update_fields"] = {*update_fields, "webhook_token_hash"}
        super().save(*args, **kwargs)


class WebhookDelivery(models.Model):
    """One verified platform delivery that Callscope used, kept so that calls can be rebuilt
    after a mapping fix (``manage.py reprocess_deliveries``) and so that a resend is recognised.

    ``idempotency_key`` is the platform's (per call and event); the constraint makes a resend,
    even a concurrent one, a no-op. ``payload`` is what the platform sent with the secrets it
    embeds redacted. Rows older than the tenant's ``delivery_retention_days`` are pruned.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    platform = models.CharField(max_length=16)
    # The platform's call id (the call document's ``call_id``).
    call_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=255)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("received_at", "id")
        verbose_name_plural = "webhook deliveries"
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "platform", "idempotency_key"],
                name="delivery_tenant_key_uniq",
            ),
        ]
        indexes: ClassVar = [
            # Pruning a tenant's deliveries past retention, and the admin's list of them.
            models.Index(fields=["tenant", "received_at"], name="delivery_tenant_received_idx"),
            # reprocess_deliveries: one platform's deliveries in received order.
            models.Index(fields=["platform", "received_at"], name="delivery_platform_recv_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.event_type} of {self.call_id}"


# --- The write hook ------------------------------------------------------------------------------

# Sent once per writing transaction (call batch, lead upsert, demo batch), inside it, after the
# writes, so other apps can react in the same transaction: ``calls`` never imports ``analytics``,
# which connects to it to mark the rollups the writes made stale. Arguments: ``tenant`` (Tenant)
# and ``instants`` (set of aware datetimes whose days and hours the writes affect: the old and new
# start of every written call, every stage stamp of a written lead before and after, the starts of
# a lead's calls when its source changed, when every activity event written occurred, and the
# timestamps of the error logs written or replaced). Sent once so receivers can lock what they
# mark in one sorted statement: several statements per transaction could deadlock against a
# concurrent writer. Call ingestion also sends ``calls``: a ``WrittenCall`` per call it created or
# changed (the live streams publish what changed once the transaction has committed).
rows_written = Signal()

# Sent, with the ``tenant_id``, by a write that changes what the tenant's read answers are
# computed from without writing any call (an analytics roll: a percentile then comes from a
# histogram, not from raw samples). Receivers that version answers (``calls.counts``) move the
# version once the transaction commits.
answers_changed = Signal()


@dataclass(frozen=True)
class WrittenCall:
    """A call a writing transaction created or changed, as ``rows_written`` reports it."""

    pk: int
    created: bool
    # Before the write (None for a created call) and after it.
    previous_status: str | None
    previous_end_call_reason: str | None
    status: str
    end_call_reason: str
    # Whether the write stored the call's error list (new error log rows).
    errors_written: bool
