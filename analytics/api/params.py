"""Query parameters of the analytics endpoints, validated into a window, a zone and filters.

Each serializer's ``validated_data`` holds ready-to-use values: ``zone`` (a ``ZoneInfo``),
``window`` (a ``Window``) or ``span`` (a ``DateSpan``), and the endpoint's own options. Unknown
parameters are refused rather than silently ignored.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.facts import CallFilters
from analytics.windows import (
    DateSpan,
    Drift,
    Window,
    WindowError,
    date_window,
    day_start,
    resolve_zone,
    volume_buckets,
)
from calls.enums import ActivityType, CallType, Channel, ErrorLevel, ErrorService, LeadSource
from config.api.errors import Unprocessable
from config.api.params import (
    MAX_YEAR,
    MIN_YEAR,
    YEAR_PATTERN,
    QueryValueError,
    not_one_of,
    parse_instant,
    time_zone_names,
    unknown_parameters,
)

SYNTHFLOW_DEFAULT_SPAN = timedelta(days=7)
SYNTHFLOW_MAX_SPAN = timedelta(days=120)
PLATFORM_PERIODS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PLATFORM_DEFAULT_PERIOD = "24h"
# A call-volume answer holds at most this many buckets (about 13 months of hours).
MAX_VOLUME_BUCKETS = 10_000
SALES_DEFAULT_DAYS = 30
SALES_MAX_DAYS = 365
ACTIVITY_DEFAULT_SPAN = timedelta(hours=24)
MAX_OFFSET = 1_000_000_000


# Free text: DRF trims it and refuses a blank value or a NUL, so the schema asks for a character
# that is neither space nor NUL.
TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class ChoiceField(serializers.ChoiceField):
    """An enumerated parameter whose error lists the valid values (``not_one_of``), in every
    analytics family."""

    def fail(self, key: str, **kwargs: Any) -> Any:
        if key == "invalid_choice":
            values = [str(value) for value in self.choices]
            raise serializers.ValidationError(not_one_of(kwargs["input"], values), code=key)
        return super().fail(key, **kwargs)


@extend_schema_field({"type": "string", "pattern": TEXT_PATTERN})
class TextField(serializers.CharField):
    """A free-text parameter, documented as the server reads it."""


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 64,
        "anyOf": [{"format": "date-time"}, {"format": "date"}],
        "pattern": YEAR_PATTERN,
    }
)
class InstantField(serializers.CharField):
    """An ISO 8601 datetime (naive means UTC; a bare date is the start of that local day).
    Parsed in ``validate``, once the zone is known."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=64, **kwargs)


@extend_schema_field({"type": "string", "enum": list(time_zone_names())})
class TimeZoneField(serializers.CharField):
    """An IANA zone name (``resolve_zone`` checks it), documented as the list of them."""


@extend_schema_field({"type": "string", "format": "date", "pattern": YEAR_PATTERN})
class DayField(serializers.DateField):
    """A calendar day within the years the windows take (``MIN_YEAR``…``MAX_YEAR``)."""


class AnalyticsParams(serializers.Serializer):
    """Parameters every analytics endpoint takes."""

    timezone = TimeZoneField(
        required=False,
        max_length=64,
        help_text="IANA time zone of day buckets and dates (default: the tenant's).",
    )

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {"non_field_errors": [unknown_parameters(unknown, self.fields)]}
            )
        return super().to_internal_value(data)

    def validate_timezone(self, value: str) -> zoneinfo.ZoneInfo:
        try:
            return resolve_zone(value)
        except WindowError as exc:
            raise serializers.ValidationError(str(exc)) from None

    @property
    def now(self) -> datetime:
        return self.context["now"]

    def zone_of(self, attrs: dict[str, Any]) -> zoneinfo.ZoneInfo:
        return attrs.get("timezone") or self.context["tenant"].zone

    def instant(self, attrs: dict[str, Any], name: str, zone: zoneinfo.ZoneInfo) -> datetime | None:
        raw = attrs.get(name)
        if raw is None:
            return None
        try:
            return parse_instant(raw, zone)
        except QueryValueError as exc:
            raise serializers.ValidationError({name: [str(exc)]}) from None


# --- Synthflow --------------------------------------------------------------------------------


class SynthflowAnalyticsParams(AnalyticsParams):
    from_date = InstantField(help_text="Start of the window (default: 7 days before to_date).")
    to_date = InstantField(help_text="End of the window, exclusive (default: now).")
    model_id = TextField(required=False, max_length=100, help_text="Only calls of this agent.")
    type_of_call = ChoiceField(
        choices=CallType.choices, required=False, help_text="Only calls of this type."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = self.zone_of(attrs)
        end = self.instant(attrs, "to_date", zone) or self.now
        start = self.instant(attrs, "from_date", zone) or end - SYNTHFLOW_DEFAULT_SPAN
        if start >= end:
            raise serializers.ValidationError("from_date must be before to_date.")
        # Measured on the local wall clock, so 120 whole local days across a DST change fit.
        wall_span = end.astimezone(zone).replace(tzinfo=None) - start.astimezone(zone).replace(
            tzinfo=None
        )
        if wall_span > SYNTHFLOW_MAX_SPAN:
            raise serializers.ValidationError("The date range may span at most 120 days.")
        return {
            "zone": zone,
            "window": Window(start, end),
            "drift": _drift(start_given="from_date" in attrs, end_given="to_date" in attrs),
            "filters": CallFilters(
                agent_model_id=attrs.get("model_id"), type_of_call=attrs.get("type_of_call")
            ),
        }


def _drift(*, start_given: bool, end_given: bool) -> Drift:
    """A window whose end defaults to now and whose start defaults to a span before its end."""
    end = 0 if end_given else 1
    return Drift(start=0 if start_given else end, end=end)


# --- Voice platform ---------------------------------------------------------------------------


class PlatformParams(AnalyticsParams):
    period = ChoiceField(
        choices=list(PLATFORM_PERIODS),
        required=False,
        help_text="The window ending now (default 24h); started_after/started_before override.",
    )
    started_after = InstantField(help_text="Calls started at or after this instant.")
    started_before = InstantField(help_text="Calls started before this instant.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = self.zone_of(attrs)
        length = PLATFORM_PERIODS[attrs.get("period", PLATFORM_DEFAULT_PERIOD)]
        end = self.instant(attrs, "started_before", zone) or self.now
        start = self.instant(attrs, "started_after", zone) or end - length
        if start >= end:
            raise serializers.ValidationError("started_after must be before started_before.")
        options = {
            k: v
            for k, v in attrs.items()
            if k not in {"timezone", "period", "started_after", "started_before"}
        }
        drift = _drift(start_given="started_after" in attrs, end_given="started_before" in attrs)
        return {"zone": zone, "window": Window(start, end), "drift": drift, **options}


class CallVolumeParams(PlatformParams):
    interval = ChoiceField(
        choices=["hour", "day", "week"], default="hour", help_text="Bucket size."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = super().validate(attrs)
        if volume_buckets(data["window"], data["zone"], data["interval"]) > MAX_VOLUME_BUCKETS:
            raise serializers.ValidationError(
                f"Too many {data['interval']} buckets (at most {MAX_VOLUME_BUCKETS:,}): "
                "use a larger interval or a shorter window."
            )
        return data


class WorkflowStatsParams(PlatformParams):
    limit = serializers.IntegerField(
        min_value=1, max_value=50, default=10, help_text="Max workflows to return."
    )


class ErrorLogParams(PlatformParams):
    service = ChoiceField(choices=ErrorService.choices, required=False)
    level = ChoiceField(choices=ErrorLevel.choices, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)


# --- Sales ------------------------------------------------------------------------------------


def _check_date(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise serializers.ValidationError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}.")
    return value


class SalesParams(AnalyticsParams):
    startDate = DayField(
        required=False, help_text="First day (tenant-local, default 30 days before endDate)."
    )
    endDate = DayField(
        required=False, help_text="Last day, included (tenant-local, default today)."
    )

    def validate_startDate(self, value: date) -> date:
        return _check_date(value)

    def validate_endDate(self, value: date) -> date:
        return _check_date(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = self.zone_of(attrs)
        last = attrs.get("endDate") or self.now.astimezone(zone).date()
        first = attrs.get("startDate") or last - timedelta(days=SALES_DEFAULT_DAYS)
        _check_span(first, last)
        options = {k: v for k, v in attrs.items() if k not in {"timezone", "startDate", "endDate"}}
        # Without endDate the span ends today, and is another one from the next local midnight.
        tomorrow = None if "endDate" in attrs else day_start(last + timedelta(days=1), zone)
        drift = Drift(jumps_at=tomorrow)
        return {"zone": zone, "span": DateSpan(first, last), "drift": drift, **options}


def _check_span(first: date, last: date) -> None:
    if first > last:
        raise serializers.ValidationError("startDate must not be after endDate.")
    if (last - first).days > SALES_MAX_DAYS:
        raise Unprocessable(f"Date range exceeds maximum of {SALES_MAX_DAYS} days.")


class OverviewParams(SalesParams):
    granularity = ChoiceField(choices=["day", "week", "month"], default="day")
    compareWith = ChoiceField(choices=["previous_period", "previous_year"], required=False)


class FunnelParams(SalesParams):
    channel = ChoiceField(choices=Channel.choices, required=False)
    # A declared field leaves the class namespace, so shadowing Field.source is safe.
    source = ChoiceField(  # type: ignore[assignment]
        choices=LeadSource.choices, required=False
    )


class ActivityParams(SalesParams):
    type = serializers.CharField(
        required=False,
        max_length=500,
        help_text="Event types, comma-separated: " + ", ".join(ActivityType.values) + ".",
    )
    leadId = TextField(required=False, max_length=64)
    page = serializers.IntegerField(min_value=1, max_value=MAX_OFFSET, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)

    def validate_type(self, value: str) -> list[str]:
        types = [t.strip() for t in value.split(",") if t.strip()]
        unknown = sorted(set(types) - set(ActivityType.values))
        if unknown or not types:
            raise serializers.ValidationError(
                f"unknown event type(s): {', '.join(unknown) or value!r}; expected "
                + ", ".join(ActivityType.values)
                + "."
            )
        return types

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Without dates the feed covers the last 24 hours; dates are whole local days.
        zone = self.zone_of(attrs)
        first, last = attrs.get("startDate"), attrs.get("endDate")
        end = date_window(last, last, zone).end if last else self.now
        start = date_window(first, first, zone).start if first else end - ACTIVITY_DEFAULT_SPAN
        if first and last:
            _check_span(first, last)
        elif start >= end:
            raise serializers.ValidationError("startDate must be before endDate.")
        elif end - start > timedelta(days=SALES_MAX_DAYS + 1):
            raise Unprocessable(f"Date range exceeds maximum of {SALES_MAX_DAYS} days.")
        return {
            "zone": zone,
            "window": Window(start, end),
            "drift": _drift(start_given=first is not None, end_given=last is not None),
            "types": attrs.get("type", []),
            "lead_id": attrs.get("leadId"),
            "page": attrs["page"],
            "limit": attrs["limit"],
        }
