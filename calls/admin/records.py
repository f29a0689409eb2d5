"""Read-only admins of the other ingested tables: agents, workflows, leads, activity events and
error logs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from calls.admin.call import phone_candidates
from calls.admin.ingested import IngestedAdmin, IngestedInline, pretty_json
from calls.admin_filters import DateRangeFilter
from calls.models import ActivityEvent, Agent, ErrorLog, Lead, Workflow


def calls_link(label: str, **params: Any) -> str:
    """A link to the call list filtered by ``params`` (filters the call changelist accepts)."""
    url = f"{reverse('admin:calls_call_changelist')}?{urlencode(params)}"
    return format_html('<a href="{}">{}</a>', url, label)


def call_link(call_pk: int | None, call_id: str | None) -> str:
    if call_pk is None:
        return "-"
    url = reverse("admin:calls_call_change", args=[call_pk])
    return format_html('<a href="{}">{}</a>', url, call_id or call_pk)


@admin.register(Agent)
class AgentAdmin(IngestedAdmin):
    """Voice agents (Synthflow "models"), as ingestion first saw them."""

    tenant_path = "tenant"
    list_display = ("name", "model_id", "type", "calls")
    list_filter = ("type",)
    search_fields = ("name", "=model_id")
    fields = ("tenant", "model_id", "name", "type", "calls")
    readonly_fields = ("calls",)

    @admin.display(description="calls")
    def calls(self, obj: Agent) -> str:
        return calls_link("Calls of this agent", agent__id__exact=obj.pk)


@admin.register(Workflow)
class WorkflowAdmin(IngestedAdmin):
    """Workflows calls run through (the voice-platform analytics group by them)."""

    tenant_path = "tenant"
    list_display = ("name", "slug", "calls")
    search_fields = ("name", "=slug")
    fields = ("tenant", "slug", "name", "calls")
    readonly_fields = ("calls",)

    @admin.display(description="calls")
    def calls(self, obj: Workflow) -> str:
        return calls_link("Calls in this workflow", workflow__id__exact=obj.pk)


class LeadEventInline(IngestedInline):
    """The lead's activity events, newest first."""

    model = ActivityEvent
    fk_name = "lead"
    tenant_path = "tenant"
    fields = ("occurred_at", "type", "description", "metadata_display")
    verbose_name_plural = "activity"

    @admin.display(description="metadata")
    def metadata_display(self, obj: ActivityEvent) -> str:
        return pretty_json(obj.metadata)


@admin.register(Lead)
class LeadAdmin(IngestedAdmin):
    """Leads and their way through the funnel, newest first."""

    tenant_path = "tenant"
    list_display = (
        "lead_id",
        "name",
        "phone_number",
        "email",
        "status",
        "score",
        "source",
        "channel",
        "estimated_value",
        "created_at",
    )
    list_filter = ("status", "source", "channel", ("created_at", DateRangeFilter))
    date_hierarchy = "created_at"
    sortable_by = ("lead_id", "created_at")
    search_fields = ("lead_id", "phone_number", "name", "email")
    search_help_text = "Exact lead id, a phone number (any format), or part of a name or email."
    fieldsets = (
        (None, {"fields": ("tenant", "lead_id", "name", "phone_number", "email", "calls")}),
        ("Funnel", {"fields": ("status", "score", "estimated_value", "source", "channel")}),
        (
            "Stages",
            {
                "fields": (
                    "created_at",
                    "qualified_at",
                    "demo_booked_at",
                    "converted_at",
                    "lost_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = ("calls", "created_at", "updated_at")
    inlines = (LeadEventInline,)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        phones = phone_candidates(term)
        if phones:
            match = Q(lead_id=term) | Q(phone_number__in=phones)
        else:
            match = Q(lead_id=term) | Q(name__icontains=term) | Q(email__icontains=term)
        return queryset.filter(match), False

    @admin.display(description="calls")
    def calls(self, obj: Lead) -> str:
        return calls_link("Calls with this lead", lead__id__exact=obj.pk)


@admin.register(ActivityEvent)
class ActivityEventAdmin(IngestedAdmin):
    """The activity feed: what happened to leads and conversations, newest first."""

    tenant_path = "tenant"
    list_display = ("event_id", "occurred_at", "type", "lead", "call_display", "description")
    list_filter = ("type", ("occurred_at", DateRangeFilter))
    list_select_related = ("lead",)
    date_hierarchy = "occurred_at"
    sortable_by = ("occurred_at",)
    search_fields = ("=event_id",)
    search_help_text = "Exact event id."
    list_defer = ("metadata",)
    fields = (
        "tenant",
        "event_id",
        "type",
        "occurred_at",
        "lead",
        "call_display",
        "description",
        "metadata_display",
        "dedupe_key",
    )
    readonly_fields = ("call_display", "metadata_display", "dedupe_key")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ActivityEvent]:
        # The call's external id only, not the whole call row with its JSON columns.
        return super().get_queryset(request).annotate(call_ref=F("call__call_id"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ActivityEvent], search_term: str
    ) -> tuple[QuerySet[ActivityEvent], bool]:
        term = search_term.strip()
        return (queryset.filter(event_id=term) if term else queryset), False

    @admin.display(description="call")
    def call_display(self, obj: ActivityEvent) -> str:
        return call_link(obj.call_id, getattr(obj, "call_ref", None))

    @admin.display(description="metadata")
    def metadata_display(self, obj: ActivityEvent) -> str:
        return pretty_json(obj.metadata)


@admin.register(ErrorLog)
class ErrorLogAdmin(IngestedAdmin):
    """Provider and workflow errors, newest first."""

    tenant_path = "tenant"
    list_display = ("timestamp", "service", "level", "short_message", "call_display", "agent_name")
    list_filter = ("service", "level", ("timestamp", DateRangeFilter))
    date_hierarchy = "timestamp"
    sortable_by = ("timestamp",)
    search_fields = ("call__call_id", "message")
    search_help_text = "Exact call id, or part of the message."
    list_defer = ("details",)
    fields = (
        "tenant",
        "timestamp",
        "service",
        "level",
        "call_display",
        "agent_name",
        "message",
        "details_display",
    )
    readonly_fields = ("call_display", "details_display")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ErrorLog]:
        return super().get_queryset(request).annotate(call_ref=F("call__call_id"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ErrorLog], search_term: str
    ) -> tuple[QuerySet[ErrorLog], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(call__call_id=term) | Q(message__icontains=term)), False

    @admin.display(description="message")
    def short_message(self, obj: ErrorLog) -> str:
        return obj.message if len(obj.message) <= 120 else f"{obj.message[:119]}…"

    @admin.display(description="call")
    def call_display(self, obj: ErrorLog) -> str:
        return call_link(obj.call_id, getattr(obj, "call_ref", None))

    @admin.display(description="details")
    def details_display(self, obj: ErrorLog) -> str:
        return pretty_json(obj.details)
