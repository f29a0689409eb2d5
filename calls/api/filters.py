"""Query parameters of the call read APIs, declared as django-filter ``FilterSet``s.

Parameters are strict: an unknown parameter, a malformed value or a single-valued parameter given
twice is a 400 that names the parameter; nothing is silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django_filters.fields import ChoiceField as FilterChoiceField
from rest_framework import serializers
from rest_framework.request import Request

from calls import directory, queries
from calls.api import export
from calls.documents import E164, INT32_MAX, parse_timestamp
from calls.enums import CallPlatform, CallStatus, CallType, Channel, Sentiment
from calls.models import Call
from config.api.errors import InvalidRequest
from config.api.params import (
    MAX_YEAR,
    MIN_YEAR,
    not_one_of,
    time_zone_names,
    unknown_parameters,
)

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
VARIABLE_PREFIX = "var."

# What one request may ask of the call filters. Every filter is database work, so an unbounded
# query string would be an unbounded query: past a cap the request is a 400 naming the parameter.
# Distinct ``var.<name>`` parameters: each reads its own range of the variables index.
MAX_VARIABLE_FILTERS = 10
# Values of one ``var.<name>`` (each must match, e.g. under two agents).
MAX_VARIABLE_VALUES = 3
# Values of a list parameter (``agent``, ``status``, ``label``, …): each is checked against
# every call the page walks (a label is one JSON containment test per call).
MAX_LIST_VALUES = 20
# Characters of the transcript search ``q``.
MAX_SEARCH_LENGTH = 200

# --- form fields -----------------------------------------------------------------------------


class CommaSeparatedWidget(forms.Widget):
    """Reads a parameter given several times and/or as a comma-separated list."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        items: list[str] = []
        for value in values:
            if value is None:
                continue
            # Blank items stay until ``ListField`` has counted them: the cap is on what was sent.
            items.extend(part.strip() for part in str(value).split(","))
        return items

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data


class ListField(forms.Field):
    """A list of strings, each optionally limited to ``choices`` and ``max_length``."""

    widget = CommaSeparatedWidget

    def __init__(
        self,
        *,
        choices: Iterable[str] | None = None,
        max_length: int = 200,
        max_items: int = MAX_LIST_VALUES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.choices = list(choices) if choices is not None else None
        self.max_length = max_length
        self.max_items = max_items

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        items = [value] if isinstance(value, str) else list(value)
        if len(items) > self.max_items:
            raise ValidationError(f"at most {self.max_items} values")
        items = [item for item in items if item]
        for item in items:
            if self.choices is not None and item not in self.choices:
                raise ValidationError(not_one_of(item, self.choices), code="invalid_choice")
            if len(item) > self.max_length or "\x00" in item:
                raise ValidationError(f"{item[:40]!r}… is not a valid value", code="invalid")
        return items


class EnumChoiceMixin:
    """A choice field whose error lists the valid values (``not_one_of``), not Django's "Select
    a valid choice"."""

    choices: Any

    def validate(self, value: Any) -> None:
        if value and not self.valid_value(value):  # type: ignore[attr-defined]
            values = [str(key) for key, _ in self.choices if key not in ("", None)]
            raise ValidationError(not_one_of(value, values), code="invalid_choice")
        super().validate(value)  # type: ignore[misc]


class EnumChoiceField(EnumChoiceMixin, forms.ChoiceField):
    pass


class EnumFilterChoiceField(EnumChoiceMixin, FilterChoiceField):
    pass


def normalize_phone(value: str) -> str:
    """An E.164 number from a query string: ``%2B`` arrives as ``+``, an unencoded ``+`` as a
    space; separators are dropped and a bare run of digits gets its ``+`` back."""
    text = re.sub(r"[\s\-().]", "", value)
    if text.isascii() and text.isdigit():
        text = "+" + text
    if not E164.match(text):
        raise ValidationError("must be an E.164 phone number, e.g. %2B14155552671")
    return text


class PhoneField(forms.CharField):
    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        return normalize_phone(text) if text else text


# An ISO offset whose "+" arrived unencoded (a space): "…T10:00:00 01:00".
_SPACE_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$", re.ASCII)


class IsoDateTimeField(forms.Field):
    """ISO 8601 datetime; without an offset it is UTC, as every naive time in a query string."""

    def to_python(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        text = _SPACE_OFFSET.sub(r"\1+\2", str(value).strip())
        if text.isdigit():
            raise ValidationError("must be an ISO 8601 datetime, e.g. 2026-03-01T10:00:00Z")
        try:
            parsed = parse_timestamp(text)
            local_year = parsed.year
            # In UTC: PostgreSQL takes offsets up to 15:59 only, Python up to 23:59.
            instant = parsed.astimezone(UTC)
        except ValueError:
            raise ValidationError(
                "must be an ISO 8601 datetime, e.g. 2026-03-01T10:00:00Z"
            ) from None
        except OverflowError:
            raise ValidationError("datetime out of range") from None
        if not MIN_YEAR <= local_year <= MAX_YEAR:
            raise ValidationError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}")
        return instant


class EpochMsField(forms.Field):
    """Milliseconds since the epoch, as Synthflow's ``from_date``/``to_date``."""

    def to_python(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]{1,15}", text) or int(text) > MAX_MS:
            raise ValidationError("must be milliseconds since the epoch, e.g. 1732546200000")
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)


# A USD amount as the cost filters take it: plain decimal notation within ``Call.cost_usd``
# (no sign, no exponent: ``1e400``, ``-1``, ``NaN`` and ``Infinity`` are refused).
USD_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"


class UsdField(forms.Field):
    def to_python(self, value: Any) -> Decimal | None:
        if value in (None, ""):
            return None
        text = str(value).strip()
        if not re.fullmatch(USD_PATTERN, text):
            raise ValidationError(
                "must be US dollars as a plain decimal, at most 10 digits before the point and "
                "6 after it, e.g. 0.25"
            )
        return Decimal(text)


class StrictBooleanField(forms.Field):
    """``true``/``false`` (also ``1``/``0``); anything else is an error, not "unset"."""

    TRUE = frozenset({"true", "1"})
    FALSE = frozenset({"false", "0"})

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError("must be true or false")


class TimezoneField(forms.CharField):
    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        if text and text not in time_zone_names():
            raise ValidationError(f"{text[:64]!r} is not an IANA time zone name")
        return text


# --- filters ---------------------------------------------------------------------------------


class ListFilter(django_filters.Filter):
    """Any of several values (``status=a,b`` or ``status=a&status=b``)."""

    field_class = ListField
    multiple = True

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class UsdFilter(django_filters.Filter):
    field_class = UsdField


class EpochMsFilter(django_filters.Filter):
    field_class = EpochMsField


class IsoDateTimeFilter(django_filters.Filter):
    field_class = IsoDateTimeField


class PhoneFilter(django_filters.Filter):
    field_class = PhoneField


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        return super().filter(qs, value)


class ParameterFilter(django_filters.Filter):
    """A validated parameter that does not filter (ordering, columns, time zone): the view or
    the paginator reads its cleaned value from ``filterset.form.cleaned_data``."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        return qs


class ChoiceParameter(ParameterFilter):
    field_class = EnumChoiceField


class EnumChoiceFilter(django_filters.ChoiceFilter):
    """One of ``choices``; an error lists them."""

    field_class = EnumFilterChoiceField


class TimezoneParameter(ParameterFilter):
    field_class = TimezoneField


class ListParameter(ParameterFilter):
    field_class = ListField
    multiple = True


# --- filter sets -----------------------------------------------------------------------------


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose non-filter parameters (pagination) are declared too, so that anything
    else in the query string is rejected."""

    # Parameters the view reads itself (pagination), accepted alongside the filters.
    extra_parameters: tuple[str, ...] = ()
    # Parameter name prefixes the FilterSet handles itself (e.g. ``var.<name>``).
    dynamic_prefixes: tuple[str, ...] = ()

    def __init__(self, *args: Any, tenant_id: int | None = None, **kwargs: Any) -> None:
        # The tenant the queryset is scoped to, for filters that read tenant-first indexes of
        # other tables (``var.<name>``); given by the view, never guessed from the queryset.
        super().__init__(*args, **kwargs)
        self.tenant_id = tenant_id

    @classmethod
    def accepted_parameters(cls) -> set[str]:
        return set(cls.base_filters) | set(cls.extra_parameters)

    @classmethod
    def is_dynamic(cls, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in cls.dynamic_prefixes)

    @classmethod
    def check_parameters(cls, params: QueryDict) -> None:
        """400 for unknown parameters and for single-valued ones given more than once."""
        accepted = cls.accepted_parameters()
        unknown = sorted(
            name for name in params if name not in accepted and not cls.is_dynamic(name)
        )
        if unknown:
            patterns = [f"{prefix}<name>" for prefix in cls.dynamic_prefixes]
            raise InvalidRequest(
                unknown_parameters(unknown, accepted, patterns=patterns),
                [{"field": n[:100], "message": "unknown parameter"} for n in unknown[:10]],
            )
        repeated = sorted(
            name
            for name in params
            if len(params.getlist(name)) > 1
            and not getattr(cls.base_filters.get(name), "multiple", False)
            and not cls.is_dynamic(name)
        )
        if repeated:
            raise InvalidRequest(
                f"Query parameter(s) given more than once: {', '.join(repeated)}.",
                [{"field": n, "message": "given more than once"} for n in repeated],
            )

    def cleaned_filters(self) -> dict[str, Any]:
        """Each declared filter's validated value, by name (``None`` or empty when not given):
        what decides which rows ``validated_qs`` returns. Call after ``validated_qs``."""
        return {name: self.form.cleaned_data.get(name) for name in self.filters}

    def validated_qs(self) -> QuerySet[Any]:
        if not self.is_valid():
            errors = [
                {"field": field, "message": " ".join(str(m) for m in messages)}
                for field, messages in self.errors.items()
            ]
            message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise InvalidRequest(f"Invalid query parameter(s): {message}", errors)
        return self.qs


DURATION_LIMITS = {"min_value": 0, "max_value": INT32_MAX}


class SynthflowCallFilterSet(StrictFilterSet):
    """``GET /v2/calls``: Synthflow's list-calls parameters."""

    model_id = django_filters.CharFilter(
        field_name="agent__model_id", required=True, max_length=100, help_text="Agent (model) id."
    )
    from_date = EpochMsFilter(
        field_name="start_time", lookup_expr="gte", help_text="Calls started at or after (ms)."
    )
    to_date = EpochMsFilter(
        field_name="start_time", lookup_expr="lt", help_text="Calls started before (ms)."
    )
    call_status = EnumChoiceFilter(
        field_name="status", choices=CallStatus.choices, help_text="One call status."
    )
    duration_min = IntegerFilter(field_name="duration", lookup_expr="gte", **DURATION_LIMITS)
    duration_max = IntegerFilter(field_name="duration", lookup_expr="lte", **DURATION_LIMITS)
    lead_phone_number = PhoneFilter(field_name="lead_phone_number", max_length=40)

    extra_parameters = ("limit", "offset")

    class Meta:
        model = Call
        fields: list[str] = []


def variable_filters(params: QueryDict) -> list[tuple[str, str]]:
    """The ``var.<name>=<value>`` pairs of ``params``; a 400 naming the first bad one, or the
    first name past ``MAX_VARIABLE_FILTERS``."""
    filters: list[tuple[str, str]] = []
    names = 0
    for key in params:
        if not key.startswith(VARIABLE_PREFIX):
            continue
        name = key[len(VARIABLE_PREFIX) :]
        values = params.getlist(key)
        names += 1
        problem = None
        if names > MAX_VARIABLE_FILTERS:
            problem = f"at most {MAX_VARIABLE_FILTERS} var.<name> filters per request"
        elif len(values) > MAX_VARIABLE_VALUES:
            problem = f"at most {MAX_VARIABLE_VALUES} values"
        elif not name:
            problem = "needs a variable name: var.<name>=<value>"
        elif len(name) > 200 or "\x00" in name:
            problem = "invalid variable name"
        elif any(len(value) > 1000 or "\x00" in value for value in values):
            problem = "invalid value"
        if problem:
            raise InvalidRequest(
                f"Invalid query parameter(s): {key[:60]}: {problem}",
                [{"field": key[:100], "message": problem}],
            )
        filters.extend((name, value) for value in values)
    return filters


class CallFilterSet(StrictFilterSet):
    """``GET /api/v1/calls`` (and its CSV export): the native call filters.

    Multi-valued filters take a comma-separated list or the parameter repeated (at most
    ``MAX_LIST_VALUES`` values), and match any of the values; different filters must all match.
    ``var.<name>=<value>`` matches a collected variable by name under any agent; ``value``
    matches the JSON string, or the number, boolean or null it spells. At most
    ``MAX_VARIABLE_FILTERS`` names per request, each repeatable up to ``MAX_VARIABLE_VALUES``
    times (every value must match). ``q`` is at most ``MAX_SEARCH_LENGTH`` characters.
    """

    agent = ListFilter(method="filter_agent", max_length=100, help_text="Agent model ids.")
    workflow = ListFilter(method="filter_workflow", max_length=100, help_text="Workflow slugs.")
    status = ListFilter(field_name="status", choices=CallStatus.values, help_text="Call statuses.")
    type = ListFilter(field_name="type_of_call", choices=CallType.values, help_text="Call types.")
    channel = ListFilter(field_name="channel", choices=Channel.values, help_text="Channels.")
    sentiment = ListFilter(
        field_name="sentiment", choices=Sentiment.values, help_text="Sentiments."
    )
    success = StrictBooleanFilter(method="filter_success", help_text="Successful calls or not.")
    end_reason = ListFilter(field_name="end_call_reason", max_length=64, help_text="End reasons.")
    label = ListFilter(method="filter_label", max_length=100, help_text="Any of these labels.")
    started_after = IsoDateTimeFilter(
        field_name="start_time", lookup_expr="gte", help_text="Started at or after (ISO 8601)."
    )
    started_before = IsoDateTimeFilter(
        field_name="start_time", lookup_expr="lt", help_text="Started before (ISO 8601)."
    )
    duration_min = IntegerFilter(field_name="duration", lookup_expr="gte", **DURATION_LIMITS)
    duration_max = IntegerFilter(field_name="duration", lookup_expr="lte", **DURATION_LIMITS)
    cost_min = UsdFilter(
        field_name="cost_usd", lookup_expr="gte", help_text="Calls costing at least (USD)."
    )
    cost_max = UsdFilter(
        field_name="cost_usd", lookup_expr="lte", help_text="Calls costing at most (USD)."
    )
    platform = ListFilter(
        field_name="platform", choices=CallPlatform.values, help_text="Platforms."
    )
    lead_phone = PhoneFilter(field_name="lead_phone_number", max_length=40)
    lead_id = django_filters.CharFilter(field_name="lead__lead_id", max_length=64)
    q = django_filters.CharFilter(
        method="filter_q",
        max_length=MAX_SEARCH_LENGTH,
        error_messages={"max_length": f"at most {MAX_SEARCH_LENGTH} characters"},
        help_text=f"Transcript search (at most {MAX_SEARCH_LENGTH} characters).",
    )
    ordering = ChoiceParameter(choices=[(name, name) for name in queries.ORDERINGS])

    dynamic_prefixes = (VARIABLE_PREFIX,)

    class Meta:
        model = Call
        fields: list[str] = []

    def filter_agent(self, qs: QuerySet[Call], name: str, value: list[str]) -> QuerySet[Call]:
        return qs.filter(agent_id__in=self.known(directory.AGENTS, "agent", value))

    def filter_workflow(self, qs: QuerySet[Call], name: str, value: list[str]) -> QuerySet[Call]:
        return qs.filter(workflow_id__in=self.known(directory.WORKFLOWS, "workflow", value))

    def known(self, kind: directory.DirectoryKind[Any], param: str, keys: list[str]) -> list[int]:
        """The primary keys of the tenant's agents or workflows ``keys`` names by external id.

        A value that is no external id but an agent's (or workflow's) name is a 400 that says
        which id that name has and where the list is: the filter takes ids only, and an empty
        200 would read as "no calls". (Names are not unique and may equal another agent's id,
        so they are never matched.) A value that names nothing matches no call, as before an
        agent's first call arrives."""
        if self.tenant_id is None:
            raise ValueError(f"the {param} filter needs the tenant whose calls it reads")
        found = directory.known_keys(kind, tenant_id=self.tenant_id, keys=keys)
        unknown = [key for key in dict.fromkeys(keys) if key not in found]
        named = (
            directory.keys_named(kind, tenant_id=self.tenant_id, names=unknown) if unknown else {}
        )
        hints = [
            f"unknown {param} {name[:60]!r} (the {param} named so has {kind.key_field} "
            + " or ".join(repr(key) for key in ids)
            + ")"
            for name, ids in named.items()
        ]
        if hints:
            message = f"{'; '.join(hints)}; {param}s are listed at /api/v1/{kind.name}"
            raise InvalidRequest(
                f"Invalid query parameter(s): {param}: {message}",
                [{"field": param, "message": message}],
            )
        return list(found.values())

    def filter_success(self, qs: QuerySet[Call], name: str, value: bool) -> QuerySet[Call]:
        return queries.filter_success(qs, value)

    def filter_label(self, qs: QuerySet[Call], name: str, value: list[str]) -> QuerySet[Call]:
        return queries.filter_labels(qs, value)

    def filter_q(self, qs: QuerySet[Call], name: str, value: str) -> QuerySet[Call]:
        # Validated here, applied by the page or the export (``search``), which bound the
        # calls a search checks per query.
        try:
            queries.parse_search(value)
        except queries.SearchSyntaxError as exc:
            raise InvalidRequest(
                f"Invalid query parameter(s): q: {exc}", [{"field": "q", "message": str(exc)}]
            ) from None
        return qs

    def filter_queryset(self, queryset: QuerySet[Call]) -> QuerySet[Call]:
        queryset = super().filter_queryset(queryset)
        return queries.filter_variables(
            queryset, variable_filters(self.data), tenant_id=self.tenant_id
        )

    def is_valid(self) -> bool:
        variable_filters(self.data)  # raises a 400 naming a bad var.<name> parameter
        return super().is_valid()

    def get_ordering(self) -> queries.Ordering:
        name = self.form.cleaned_data.get("ordering") or queries.DEFAULT_ORDERING
        return queries.ORDERINGS[name]

    def search(self) -> queries.TranscriptSearch | None:
        """The ``q`` (``queries.plan_transcript_search``), planned from this filter set's tenant's
        transcripts alone, so neither the plan nor the response time depends on what other
        tenants' calls say; ``None`` without one. Refuses to plan without the tenant."""
        text = (self.form.cleaned_data.get("q") or "").strip()
        if not text:
            return None
        if self.tenant_id is None:
            raise ValueError("a transcript search needs the tenant whose calls it reads")
        return queries.plan_transcript_search(text, tenant_ids=(self.tenant_id,))


class CallListFilterSet(CallFilterSet):
    extra_parameters = ("cursor", "limit")


class CallExportFilterSet(CallFilterSet):
    columns = ListParameter(
        choices=list(export.COLUMNS), max_items=len(export.COLUMNS), help_text="Columns, in order."
    )
    timezone = TimezoneParameter(max_length=64, help_text="IANA zone of the times.")


FilterSetT = TypeVar("FilterSetT", bound=StrictFilterSet)


def apply_filters(
    filterset_class: type[FilterSetT],
    request: Request,
    queryset: QuerySet[Call],
    *,
    tenant_id: int | None = None,
) -> tuple[FilterSetT, QuerySet[Call]]:
    """``queryset`` (tenant ``tenant_id``'s calls) filtered by the request's query string,
    strictly: unknown or repeated parameters and invalid values are 400s naming the parameter
    (``InvalidRequest``, rendered in the view's error family). ``var.<name>`` filters need
    ``tenant_id`` and refuse to run without it."""
    filterset = filterset_class(
        request.query_params, queryset=queryset, request=request, tenant_id=tenant_id
    )
    filterset.check_parameters(request.query_params)
    return filterset, filterset.validated_qs()


def page_parameters(
    serializer_class: type[serializers.Serializer], params: QueryDict
) -> dict[str, Any]:
    """The pagination parameters of ``params`` validated by ``serializer_class`` (its fields
    name them); a 400 naming each bad one."""
    names: list[str] = list(serializer_class().fields)
    data = {name: params[name] for name in names if name in params}
    page = serializer_class(data=data)
    if not page.is_valid():
        errors = [
            {"field": field, "message": " ".join(str(m) for m in messages)}
            for field, messages in page.errors.items()
        ]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidRequest(f"Invalid query parameter(s): {message}", errors)
    return dict(page.validated_data)
