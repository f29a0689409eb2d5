"""Changelist filters of the calls admin that stay cheap on tables with millions of rows.

None of them asks the database for the distinct values of a column: choices come from enums or
from the small tables of the user's tenants. "Successful" and "active at" filter by the call
model's predicates (``calls.models``), so the analytics dashboard can link to exactly the calls a
number counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.fields.related import RelatedField
from django.http import HttpRequest
from django.utils import timezone

from calls.enums import KNOWN_END_CALL_REASONS, ProviderType
from calls.models import LatencySample, Tenant, active_q
from calls.queries import filter_success, filter_transcript
from config.api.params import parse_instant

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


def _other_parameters(changelist: ChangeList, own: set[str]) -> list[tuple[str, str]]:
    """The rest of the current query (search, other filters, ordering), for the hidden inputs of
    a filter's own form."""
    return [
        (name, value)
        for name, values in sorted(changelist.filter_params.items())
        if name not in own
        for value in values
    ]


def _tenant_ids(model_admin: Any, request: HttpRequest) -> frozenset[int] | None:
    # Fails closed: an admin that cannot say which tenants the user sees offers no choices.
    getter = getattr(model_admin, "tenant_ids", None)
    return getter(request) if getter is not None else frozenset()


# The query parameter of the tenant filter the ingested admins add for users who see several
# tenants (``("tenant", ScopedRelatedFieldListFilter)``).
TENANT_FILTER_PARAM = "tenant__id__exact"


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter (tenant, agent, workflow…) listing only rows of the user's tenants.

    Django's ``RelatedFieldListFilter`` lists every row of the related table, and
    ``RelatedOnlyFieldListFilter`` runs ``SELECT DISTINCT`` over the filtered table; this reads
    the related table only, restricted to the user's tenants. When the user sees several tenants,
    each choice names its tenant.
    """

    def field_choices(
        self, field: RelatedField[Any, Any], request: HttpRequest, model_admin: Any
    ) -> list[tuple[str, _StrOrPromise]]:
        related: type[models.Model] = field.related_model  # type: ignore[assignment]
        ids = _tenant_ids(model_admin, request)
        queryset: QuerySet[Any] = related._default_manager.all()
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        if related is Tenant:
            if ids is not None:
                queryset = queryset.filter(pk__in=sorted(ids))
            return [(str(obj.pk), str(obj)) for obj in queryset]
        queryset = queryset.select_related("tenant")
        if ids is not None:
            queryset = queryset.filter(tenant__in=sorted(ids))
        if ids is None or len(ids) > 1:
            return [(str(obj.pk), f"{obj} ({obj.tenant})") for obj in queryset]
        return [(str(obj.pk), str(obj)) for obj in queryset]


class EndCallReasonFilter(admin.SimpleListFilter):
    """End reasons from the known list (``KNOWN_END_CALL_REASONS``), plus "other" (any reason not
    in it) and "none". Any other value in the query string filters by that exact reason."""

    title = "end reason"
    parameter_name = "end_call_reason"
    OTHER = "_other"
    NONE = "_none"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            *((reason, reason) for reason in KNOWN_END_CALL_REASONS),
            (self.OTHER, "other"),
            (self.NONE, "none"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == self.NONE:
            return queryset.filter(end_call_reason="")
        if value == self.OTHER:
            return queryset.exclude(end_call_reason__in=KNOWN_END_CALL_REASONS).exclude(
                end_call_reason=""
            )
        return queryset.filter(end_call_reason=value)


class LatencyProviderFilter(admin.SimpleListFilter):
    """Calls with latency samples of a provider: a provider type (``provider=llm``) or one named
    provider of a type (``provider=llm:openai``, the form the analytics dashboard links with).
    Choices come from the provider types, never from the samples table."""

    title = "latency provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, label) for value, label in ProviderType.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        provider_type, named, provider_name = value.partition(":")
        samples = LatencySample.objects.filter(call=OuterRef("pk"), provider_type=provider_type)
        if named:
            samples = samples.filter(provider_name=provider_name)
        return queryset.filter(Exists(samples))


class SuccessfulCallFilter(admin.SimpleListFilter):
    """Successful calls, by the one definition (``calls.models.successful_q``)."""

    title = "successful"
    parameter_name = "successful"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "successful"), ("no", "not successful")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return filter_success(queryset, self.value() == "yes")
        return queryset


class ActiveAtFilter(admin.SimpleListFilter):
    """Calls active at an instant (``calls.models.active_q``): ``now``, or the ISO 8601 instant a
    dashboard tile was computed at, so the list shows the calls the tile counted."""

    title = "active"
    parameter_name = "active_at"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("now", "active now")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == "now":
            return queryset.filter(active_q(timezone.now()))
        try:
            instant = parse_instant(value, UTC)
        except ValueError as exc:
            raise IncorrectLookupParameters(f"{self.parameter_name}: {exc}") from exc
        return queryset.filter(active_q(instant))


class DateRangeFilter(admin.FieldListFilter):
    """Two date inputs, from and to, over a date-time field.

    Keeps rows in the half-open range ``[from 00:00, to + 1 day 00:00)`` of the list's time zone
    (``IngestedAdmin.list_zone``: the tenant's when one tenant is in view, else UTC), which its
    title names; both ends are inclusive dates and either may be left empty. The query string
    carries ``<field>_from`` and ``<field>_to`` as ISO dates; a malformed date is reported like
    any bad filter value.
    """

    template = "admin/calls/filters/date_range.html"

    def __init__(
        self,
        field: models.Field[Any, Any],
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[models.Model],
        model_admin: Any,
        field_path: str,
    ) -> None:
        self.param_from = f"{field_path}_from"
        self.param_to = f"{field_path}_to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"date ({timezone.get_current_timezone_name()})"
        self.date_from = self._parse(self.param_from)
        self.date_to = self._parse(self.param_to)

    def _parse(self, name: str) -> date | None:
        values = self.used_parameters.get(name) or [""]
        raw = str(values[-1] if isinstance(values, list) else values).strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise IncorrectLookupParameters(f"{name}: {raw!r} is not a date (YYYY-MM-DD).") from exc

    def expected_parameters(self) -> list[str | None]:
        return [self.param_from, self.param_to]

    def has_output(self) -> bool:
        return True

    def get_facet_counts(self, pk_attname: str, filtered_qs: QuerySet[Any]) -> dict[str, Any]:
        return {}

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        zone = timezone.get_current_timezone()
        if self.date_from is not None:
            start = datetime.combine(self.date_from, time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{self.field_path}__gte": start})
        if self.date_to is not None:
            end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset

    # Feeds its own template (a form), not Django's list of links.
    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        own = {self.param_from, self.param_to}
        yield {
            "param_from": self.param_from,
            "param_to": self.param_to,
            "value_from": self.date_from.isoformat() if self.date_from else "",
            "value_to": self.date_to.isoformat() if self.date_to else "",
            "hidden": _other_parameters(changelist, own),
            "active": self.date_from is not None or self.date_to is not None,
            "clear_query_string": changelist.get_query_string(remove=sorted(own)),
        }


class TranscriptTextFilter(admin.ListFilter):
    """Calls whose transcript contains the text typed into a box (``transcript`` in the query
    string). Uses ``calls.queries.filter_transcript``: full-text search through the transcript
    index on PostgreSQL (words, "phrases", ``or``, ``-word``), a substring match elsewhere. Kept
    out of the main search box so that call id and phone searches stay single index lookups."""

    title = "transcript"
    parameter_name = "transcript"
    template = "admin/calls/filters/text_search.html"

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[models.Model],
        model_admin: Any,
    ) -> None:
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            self.used_parameters[self.parameter_name] = params.pop(self.parameter_name)[-1]
        self.text = str(self.used_parameters.get(self.parameter_name, "")).strip()
        self.model_admin = model_admin

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.text:
            return queryset
        # Planned from the user's tenants' transcripts only: what other tenants' calls say
        # must not change the plan, or the time, of a tenant staff user's search.
        ids = _tenant_ids(self.model_admin, request)
        return filter_transcript(
            queryset, self.text, tenant_ids=sorted(ids) if ids is not None else None
        )

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        yield {
            "name": self.parameter_name,
            "value": self.text,
            "hidden": _other_parameters(changelist, {self.parameter_name}),
            "active": bool(self.text),
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }
