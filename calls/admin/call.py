"""The call log in the admin: a changelist for millions of calls and a call page that reads like
the conversation it records."""

from __future__ import annotations

import copy
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.db.models import Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from calls import queries
from calls.admin.ingested import IngestedAdmin, IngestedInline, pretty_json
from calls.admin_filters import (
    ActiveAtFilter,
    DateRangeFilter,
    EndCallReasonFilter,
    LatencyProviderFilter,
    ScopedRelatedFieldListFilter,
    SuccessfulCallFilter,
    TranscriptTextFilter,
)
from calls.api import export
from calls.enums import CostComponent, ProviderType
from calls.models import (
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    agent_replies,
)
from calls.queries import neighbours_in_order
from calls.templatetags.callscope_admin import mmss
from config.formatting import format_seconds, format_usd

_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{6,}$", re.ASCII)


def phone_candidates(term: str) -> list[str]:
    """The exact forms a phone number typed into a search box may be stored under: as typed and
    as E.164 (``+`` and digits; a leading international ``00`` becomes ``+``). Empty when the
    term does not look like a phone number."""
    if not _PHONE_LIKE.match(term):
        return []
    digits = re.sub(r"[^0-9]", "", term)
    candidates = {term, digits, f"+{digits}"}
    if digits.startswith("00"):
        candidates.add(f"+{digits[2:]}")
    return sorted(candidates)


def seconds_time(value: datetime | None) -> str:
    """A call page's start or end time to the second ("2026-12-02 18:07:12"), in the zone the
    page is shown in (``IngestedAdmin.change_view``): Django's date format has no seconds, and
    a short call would start and end at the same minute."""
    if value is None:
        return "-"
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


PROVIDER_TYPE_COLORS: dict[str, str] = {
    ProviderType.STT: "#3b82c4",
    ProviderType.LLM: "#e07b26",
    ProviderType.TTS: "#2e9e5b",
}


def reply_label(n: int, replies: Sequence[tuple[int, int | None]]) -> str:
    """The x-axis label of the ``n``-th (from 1) latency sample of each provider: the agent's
    ``n``-th reply as its turn ("Turn 4 · agent · 00:07"), or "Reply n" when the transcript has
    no such reply."""
    if n > len(replies):
        return f"Reply {n}"
    position, start_ms = replies[n - 1]
    label = f"Turn {position + 1} · agent"
    return f"{label} · {mmss(start_ms)}" if start_ms is not None else label


def latency_chart_spec(
    samples: Iterable[tuple[str, str, float]],
    replies: Sequence[tuple[int, int | None]] = (),
) -> dict[str, Any]:
    """A call's latency samples, ``(provider type, provider name, ms)`` in order, as a line chart
    (``analytics/static/analytics/charts.js``): one line per provider type, the n-th sample of
    each type at the agent's n-th reply (``calls.models.agent_replies``, which says why)."""
    values: dict[str, list[float]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)
    for provider_type, provider_name, latency_ms in samples:
        values[provider_type].append(round(float(latency_ms), 1))
        if provider_name and provider_name not in names[provider_type]:
            names[provider_type].append(provider_name)
    order = {value: i for i, value in enumerate(ProviderType.values)}
    types = sorted(values, key=lambda t: (order.get(t, 99), t))
    longest = max((len(v) for v in values.values()), default=0)
    return {
        "type": "line",
        "labels": [reply_label(n, replies) for n in range(1, longest + 1)],
        "datasets": [
            {
                "label": f"{t} ({', '.join(names[t])})" if names[t] else t,
                "data": values[t],
                "color": PROVIDER_TYPE_COLORS.get(t, "#9aa0a8"),
                "urls": [],
                "notes": [],
                "dash": [],
            }
            for t in types
        ],
        "stacked": False,
        "horizontal": False,
        "valueTitle": "latency (ms)",
        "indexTitle": "agent reply",
        "unit": "ms",
    }


def recording_source(url: str) -> tuple[str, str] | None:
    """Where the call page's player may load a recording from: ``(url, host)`` for an http(s)
    URL, or for a path on this server (``host`` empty; the demo's recordings are static files);
    ``None`` for anything else (``javascript:``, ``data:``…)."""
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.hostname:
        return url, parts.hostname
    if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//"):
        return url, ""
    return None


@dataclass(frozen=True)
class Neighbour:
    """A call next to the one shown, in the list the user came from."""

    url: str
    call_id: str


def _unpaged(changelist: type[ChangeList]) -> type[ChangeList]:
    """``changelist`` without its page: the list's queryset (filters, search, ordering, tenant
    scoping) is built, but no page is read and nothing is counted."""

    class Unpaged(changelist):  # type: ignore[valid-type,misc]
        def get_results(self, request: HttpRequest) -> None:
            self.result_list: list[Call] = []

    return Unpaged


# Marks the request copy whose changelist is built only for its queryset.
_LIST_QUERYSET_ONLY = "_callscope_list_queryset_only"


class CollectedVariableInline(IngestedInline):
    """The variables the agents collected during the call."""

    model = CollectedVariable
    tenant_path = "call__tenant"
    fields = ("agent_key", "name", "value_display", "collected")
    verbose_name_plural = "collected variables"

    @admin.display(description="value")
    def value_display(self, obj: CollectedVariable) -> str:
        return pretty_json(obj.value)


class ExecutedActionInline(IngestedInline):
    """The actions (bookings, transfers, webhooks…) the agent ran, in order."""

    model = ExecutedAction
    tenant_path = "call__tenant"
    fields = ("position", "name", "action_type", "success", "latency_ms", "payload_display")
    verbose_name_plural = "executed actions"

    @admin.display(description="payload")
    def payload_display(self, obj: ExecutedAction) -> str:
        return pretty_json(obj.payload)


class LatencySampleInline(IngestedInline):
    """Provider latencies (speech-to-text, LLM, text-to-speech) measured during the call."""

    model = LatencySample
    tenant_path = "tenant"
    fields = ("position", "provider_type", "provider_name", "latency_ms", "tokens")
    verbose_name_plural = "latency samples"


class ErrorLogInline(IngestedInline):
    """Errors and warnings logged for the call."""

    model = ErrorLog
    fk_name = "call"
    tenant_path = "tenant"
    fields = ("timestamp", "service", "level", "message", "details_display", "agent_name")
    verbose_name_plural = "errors"

    @admin.display(description="details")
    def details_display(self, obj: ErrorLog) -> str:
        return pretty_json(obj.details)


@admin.register(Call)
class CallAdmin(IngestedAdmin):
    """Calls, newest first. Filters, search and the date drill-down all use indexed queries or
    bounded counts; the call page shows the transcript as a conversation with its recording,
    variables, actions, latencies and errors."""

    tenant_path = "tenant"
    list_display = (
        "call_id_display",
        "started",
        "agent_display",
        "status",
        "type_of_call",
        "duration_display",
        "lead_display",
        "end_reason_display",
        "sentiment",
    )
    list_display_links = ("call_id_display",)
    # Ten columns and the filters at 1440 px.
    wide_list = True
    list_filter = (
        "status",
        ("agent", ScopedRelatedFieldListFilter),
        "type_of_call",
        EndCallReasonFilter,
        "sentiment",
        ("workflow", ScopedRelatedFieldListFilter),
        LatencyProviderFilter,
        ("start_time", DateRangeFilter),
        TranscriptTextFilter,
    )
    # The filters the analytics dashboard's drill-down links set; after every other filter (the
    # tenant's too).
    drill_down_filters = (SuccessfulCallFilter, ActiveAtFilter)
    actions = ("export_selected",)
    # What the banner above a drill-down's list says the calls did in its window.
    window_label = "started"
    # Each sort is one tenant's index read in order (or backwards), to the page's last row:
    # (tenant, call_id) unique, (tenant, -start_time, -id), (tenant, status, -start_time) and
    # (tenant, lead_phone_number, -start_time). The agent column does not sort: by the agent's
    # id the order means nothing to a reader, and by its name every call would be joined to its
    # agent before the first row.
    list_orderings: ClassVar[dict[str, tuple[str, ...]]] = {
        "call_id_display": ("call_id", "id"),
        "started": ("start_time", "id"),
        "status": ("status", "-start_time", "-id"),
        "lead_display": ("lead_phone_number", "-start_time", "-id"),
    }
    list_select_related = ("agent",)
    date_hierarchy = "start_time"
    # Replaced by get_search_results; listed so the search box shows.
    search_fields = ("call_id", "lead_phone_number", "lead_name")
    # A national number ("(540) 847-6738") names no country, so it is not guessed at: the help
    # asks for the country code (``phone_candidates``).
    search_help_text = (
        "The beginning of a call id, a lead's whole phone number with its country code (spaces "
        "and punctuation ignored), or part of a lead's name. To search what was said, use the "
        "transcript box among the filters."
    )
    list_defer = (
        "labels",
        "agents_used",
        "prompt_variables",
        "judge_results",
        "intents",
        "child_hashes",
        "document_hash",
        "error_message",
        "custom_end_call_reason",
        "cost_breakdown",
        "extra",
    )
    inlines = (CollectedVariableInline, ExecutedActionInline, LatencySampleInline, ErrorLogInline)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "call_id",
                    "tenant",
                    "status",
                    ("start_time_display", "end_time_display", "duration"),
                    "agent",
                    "workflow",
                    ("type_of_call", "channel"),
                )
            },
        ),
        ("Conversation", {"classes": ("wide",), "fields": ("recording", "conversation")}),
        ("Latency", {"classes": ("wide",), "fields": ("latency_chart",)}),
        (
            "Outcome",
            {
                "fields": (
                    ("end_call_reason", "custom_end_call_reason"),
                    ("platform", "platform_end_reason"),
                    "error_message",
                    ("sentiment", "success", "handoff"),
                    ("total_tokens", "response_time_ms"),
                )
            },
        ),
        ("Cost", {"fields": ("cost_display", "cost_breakdown_display")}),
        ("Lead", {"fields": ("lead", "lead_name", "lead_phone_number")}),
        (
            "Telephony",
            {
                "classes": ("collapse",),
                "fields": (
                    ("phone_number_from", "phone_number_to", "agent_phone_number"),
                    ("telephony_hangup", "telephony_disconnect_reason"),
                    ("telephony_duration", "telephony_ringing_duration"),
                    ("telephony_start", "telephony_end"),
                    ("recording_duration", "timezone"),
                ),
            },
        ),
        (
            "Campaign and data",
            {
                "classes": ("collapse",),
                "fields": (
                    "name",
                    ("campaign_type", "deployment_type"),
                    "labels_display",
                    "agents_used_display",
                    "prompt_variables_display",
                    "judge_results_display",
                    "intents_display",
                    "extra_display",
                ),
            },
        ),
        (
            "Record",
            {"classes": ("collapse",), "fields": ("created_at", "updated_at", "document_hash")},
        ),
    )
    readonly_fields = (
        "start_time_display",
        "end_time_display",
        "recording",
        "conversation",
        "latency_chart",
        "labels_display",
        "agents_used_display",
        "prompt_variables_display",
        "judge_results_display",
        "intents_display",
        "extra_display",
        "cost_display",
        "cost_breakdown_display",
        "created_at",
        "updated_at",
        "document_hash",
    )

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [*super().get_list_filter(request), *self.drill_down_filters]

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if request.GET.get(TranscriptTextFilter.parameter_name, "").strip():
            columns.append("transcript_match")
        return columns

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        text = request.GET.get(TranscriptTextFilter.parameter_name, "").strip()
        if text:
            # One query for the page's calls, read by ``transcript_match``.
            rows = changelist.result_list
            snippets = queries.transcript_snippets([row.pk for row in rows], text)
            for row in rows:
                row.transcript_snippet = snippets.get(row.pk)
        return changelist

    def get_urls(self) -> list[URLPattern]:
        export_url = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export_url, *super().get_urls()]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Call], search_term: str
    ) -> tuple[QuerySet[Call], bool]:
        """A phone-like term matches the beginning of call ids and lead phone numbers exactly
        (both indexed per tenant). Any other term is the beginning of call ids when a call id
        starts with it (one probe of the index), else part of a lead's name: asked together,
        the name's substring match (no index) would decide the plan of both."""
        term = search_term.strip()
        if not term:
            return queryset, False
        id_prefix = Q(call_id__startswith=term)
        phones = phone_candidates(term)
        if phones:
            return queryset.filter(id_prefix | Q(lead_phone_number__in=phones)), False
        if queryset.filter(id_prefix).exists():
            return queryset.filter(id_prefix), False
        return queryset.filter(lead_name__icontains=term), False

    # --- CSV export ---------------------------------------------------------------------------

    def stream_csv(self, queryset: QuerySet[Call]) -> StreamingHttpResponse:
        """``queryset`` as the API's CSV export (default columns, newest first) in the list's
        zone, which is active while a list or its action runs (``changelist_view``)."""
        zone = zoneinfo.ZoneInfo(timezone.get_current_timezone_name())
        chunks = export.export_chunks(
            queryset,
            columns=export.DEFAULT_COLUMNS,
            ordering=queries.ORDERINGS[queries.DEFAULT_ORDERING],
            zone=zone,
        )
        return export.csv_response(chunks, zone=zone)

    @admin.action(description="Export these calls as CSV")
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[Call]
    ) -> StreamingHttpResponse:
        # Django passes the selected rows of the admin's own (tenant-scoped) queryset.
        return self.stream_csv(queryset)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Every call of the list as filtered and searched (``export.csv?<the list's query>``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # The list's queryset only: no page of it is read, counted or given snippets.
        queryset = self.list_queryset(request, request.GET.urlencode())
        if queryset is None:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        with timezone.override(self.list_zone(request)):
            return self.stream_csv(queryset)

    # --- list columns -------------------------------------------------------------------------

    # ``ordering`` marks a column sortable; how it sorts is ``list_orderings``.
    @admin.display(description="call id", ordering="call_id")
    def call_id_display(self, obj: Call) -> str:
        # The whole id in the text (selecting it copies all of it), shortened by CSS.
        return format_html(
            '<span class="cs-call-id" title="{}">{}</span>', obj.call_id, obj.call_id
        )

    @admin.display(description="started", ordering="start_time")
    def started(self, obj: Call) -> str:
        # In the list's zone, which the column header names; the seconds in the tooltip.
        local = timezone.localtime(obj.start_time)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            local.isoformat(),
            local.strftime("%Y-%m-%d %H:%M:%S %Z"),
            local.strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description="agent")
    def agent_display(self, obj: Call) -> str:
        if obj.agent is None:
            return "-"
        return format_html('<span class="cs-clip" title="{0}">{0}</span>', str(obj.agent))

    @admin.display(description="end reason")
    def end_reason_display(self, obj: Call) -> str:
        if not obj.end_call_reason:
            return "-"
        return format_html('<span class="cs-clip" title="{0}">{0}</span>', obj.end_call_reason)

    @admin.display(description="transcript match")
    def transcript_match(self, obj: Call) -> str:
        pieces = getattr(obj, "transcript_snippet", None)
        if not pieces:
            return "-"
        # Every piece escaped; only the <mark> around a match is markup.
        marked = format_html_join(
            "",
            "{}",
            ((format_html("<mark>{}</mark>", text) if hit else text,) for text, hit in pieces),
        )
        return format_html('<span class="cs-snippet">{}</span>', marked)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        changelist = super().get_changelist(request, **kwargs)
        return _unpaged(changelist) if getattr(request, _LIST_QUERYSET_ONLY, False) else changelist

    def list_queryset(self, request: HttpRequest, filters: str) -> QuerySet[Call] | None:
        """The queryset of the call list whose query string is ``filters`` (Django's
        ``_changelist_filters``), as the list builds it for ``request``'s user: the same
        filters, search, ordering and tenant scoping. ``None`` for a query string the list
        itself would reject."""
        list_request = copy.copy(request)
        list_request.GET = QueryDict(filters)
        list_request.POST = QueryDict()
        setattr(list_request, _LIST_QUERYSET_ONLY, True)
        try:
            # In the list's zone, as the list itself filters (its days are the tenant's).
            with timezone.override(self.list_zone(list_request)):
                queryset: QuerySet[Call] = self.get_changelist_instance(list_request).queryset
        except (IncorrectLookupParameters, SuspiciousOperation, ValidationError):
            return None
        return queryset

    def neighbours(self, request: HttpRequest, obj: Call) -> dict[str, Neighbour | None]:
        """The previous and next call of the list the user came from (or of the default list),
        each one keyset query; their links keep that list's filters."""
        filters = request.GET.get("_changelist_filters", "")
        queryset = self.list_queryset(request, filters)
        found = None if queryset is None else neighbours_in_order(queryset, obj, ("pk", "call_id"))
        if found is None:
            return {"previous": None, "next": None}
        suffix = f"?{urlencode({'_changelist_filters': filters})}" if filters else ""

        def link(row: dict[str, Any] | None) -> Neighbour | None:
            if row is None:
                return None
            url = reverse(f"{self.admin_site.name}:calls_call_change", args=[row["pk"]])
            return Neighbour(url=url + suffix, call_id=row["call_id"])

        previous, following = found
        return {"previous": link(previous), "next": link(following)}

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Call | None = None,
    ) -> HttpResponse:
        if obj is not None and change and IS_POPUP_VAR not in request.GET:
            context["neighbours"] = self.neighbours(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="start time")
    def start_time_display(self, obj: Call) -> str:
        return seconds_time(obj.start_time)

    @admin.display(description="end time")
    def end_time_display(self, obj: Call) -> str:
        return seconds_time(obj.end_time)

    @admin.display(description="duration")
    def duration_display(self, obj: Call) -> str:
        return format_seconds(obj.duration)

    @admin.display(description="lead", ordering="lead_phone_number")
    def lead_display(self, obj: Call) -> str:
        # From the call's own columns: no join with leads on list pages. The phone number first:
        # the column sorts by it.
        parts = [p for p in (obj.lead_phone_number, obj.lead_name) if p]
        if not parts:
            return "-"
        text = " · ".join(parts)
        return format_html('<span class="cs-clip" title="{0}">{0}</span>', text)

    @admin.display(description="recording")
    def recording(self, obj: Call) -> str:
        source = recording_source(obj.recording_url)
        if source is None:
            return "-"
        url, host = source
        return render_to_string(
            "admin/calls/call/recording.html", {"url": url, "host": host or "this server"}
        )

    @admin.display(description="transcript")
    def conversation(self, obj: Call) -> str:
        # Rendered with autoescaping: transcript text comes from outside.
        turns = obj.turns.order_by("position")
        return render_to_string("admin/calls/call/conversation.html", {"turns": turns})

    @admin.display(description="latency per agent reply")
    def latency_chart(self, obj: Call) -> str:
        # Drawn by the analytics app's chart script (Chart.js) from the JSON spec below.
        samples = list(
            obj.latencies.order_by("position").values_list(
                "provider_type", "provider_name", "latency_ms"
            )
        )
        if not samples:
            return "-"
        replies = agent_replies(
            obj.turns.order_by("position").values_list("position", "role", "start_ms")
        )
        spec = latency_chart_spec(samples, replies)
        return render_to_string(
            "admin/analytics/call_latency.html",
            {"charts": {"latency": spec}, "chart_id": f"cs-latency-{obj.pk}"},
        )

    @admin.display(description="labels")
    def labels_display(self, obj: Call) -> str:
        return pretty_json(obj.labels)

    @admin.display(description="agents used")
    def agents_used_display(self, obj: Call) -> str:
        return pretty_json(obj.agents_used)

    @admin.display(description="prompt variables")
    def prompt_variables_display(self, obj: Call) -> str:
        return pretty_json(obj.prompt_variables)

    @admin.display(description="judge results")
    def judge_results_display(self, obj: Call) -> str:
        return pretty_json(obj.judge_results)

    @admin.display(description="intents")
    def intents_display(self, obj: Call) -> str:
        return pretty_json(obj.intents)

    @admin.display(description="fields not modelled (as sent)")
    def extra_display(self, obj: Call) -> str:
        return pretty_json(obj.extra)

    @admin.display(description="total cost")
    def cost_display(self, obj: Call) -> str:
        return format_usd(obj.cost_usd)

    @admin.display(description="by component")
    def cost_breakdown_display(self, obj: Call) -> str:
        if not obj.cost_breakdown:
            return "-"
        order = {value: i for i, value in enumerate(CostComponent.values)}
        rows = sorted(obj.cost_breakdown.items(), key=lambda item: order.get(item[0], 99))
        return format_html_join(
            "", "<div>{}: {}</div>", ((name, format_usd(amount)) for name, amount in rows)
        )
