"""The admin's analytics dashboard: KPI tiles, chart series and the drill-down link of each.

Every number here comes from the dashboard's reads in the analytics query layer
(``analytics.queries.dashboard``, which sums the same facts as the REST APIs), combined with the
formulas of ``analytics.definitions``; nothing is counted twice or defined anew. So the tiles
agree with the REST APIs over the same window, and each tile and chart element carries the URL of
the admin call list filtered to exactly the calls it counts (window bounds as exact instants,
plus status, agent, type, sentiment, end reason, provider or the "successful" / "active" filters
of ``calls.admin_filters``).
"""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote_plus

from django.urls import reverse

from analytics.definitions import (
    PERCENTILES,
    mean,
    percent,
    percent_change,
    point_change,
    ratio,
)
from analytics.queries import folds
from analytics.queries.dashboard import (
    DashboardNumbers,
    FunnelCounts,
    HourVolume,
    LatencyPoint,
    RankedTotals,
    dashboard_numbers,
)
from analytics.queries.platform import PROVIDER_ORDER
from analytics.queries.sales import FUNNEL_STAGES
from analytics.windows import (
    Window,
    date_window,
    day_start,
    iso_utc,
    local_days,
    week_start,
)
from calls.enums import CallStatus, Sentiment
from calls.models import Agent, Tenant
from config.formatting import format_seconds

PRESETS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
DEFAULT_PRESET = "7d"
# A custom range covers at most this many local days.
MAX_CUSTOM_DAYS = 366
# Windows up to this long are charted per local hour; windows touching up to DAILY_UP_TO local
# days (a quarter) per local day; longer ones per local week, Monday to Sunday as in the call-volume
# API, so a year is 53 elements per series, not 366.
HOURLY_UP_TO = timedelta(days=2)
DAILY_UP_TO = 92
TOP_ROWS = 10
TOP_END_REASONS = 12

# Query-string parameters of the admin's call list (``calls.admin.call.CallAdmin`` and its
# filters in ``calls.admin_filters``).
SUCCESSFUL_PARAM = "successful"
ACTIVE_AT_PARAM = "active_at"
PROVIDER_PARAM = "provider"
END_REASON_PARAM = "end_call_reason"

Interval = Literal["hour", "day", "week"]

STATUS_COLORS: dict[str, str] = {
    CallStatus.COMPLETED: "#2e9e5b",
    CallStatus.FAILED: "#d64545",
    CallStatus.NO_ANSWER: "#e0a526",
    CallStatus.BUSY: "#e07b26",
    CallStatus.IN_PROGRESS: "#3b82c4",
    CallStatus.RINGING: "#4aa3a2",
    CallStatus.QUEUE: "#5fa8d3",
    CallStatus.INITIATED: "#7cc4e4",
    CallStatus.HANGUP_ON_VOICEMAIL: "#8e6cc0",
    CallStatus.LEFT_VOICEMAIL: "#b08ad6",
    CallStatus.CANCELED: "#8a8f98",
    CallStatus.USER_CANCELED: "#a5aab2",
    CallStatus.SPAM: "#c2519b",
}
OTHER_COLOR = "#9aa0a8"
PALETTE = ("#3b82c4", "#e07b26", "#2e9e5b", "#8e6cc0", "#d64545", "#4aa3a2", "#b5892f", "#c2519b")
PERCENTILE_LABELS = tuple(f"p{round(f * 100)}" for f in PERCENTILES)
PERCENTILE_DASHES: dict[str, list[int]] = {"p50": [], "p95": [6, 4], "p99": [2, 3]}


# --- What the dashboard looks at ---------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """One tenant's calls started in ``window``, optionally of one agent and one type."""

    tenant: Tenant
    window: Window
    agent: Agent | None = None
    type_of_call: str | None = None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self.tenant.zone

    @property
    def filtered(self) -> bool:
        return self.agent is not None or self.type_of_call is not None

    def filter_params(self) -> dict[str, Any]:
        """The agent and type filters as call-list parameters."""
        params: dict[str, Any] = {}
        if self.agent is not None:
            params["agent__id__exact"] = self.agent.pk
        if self.type_of_call is not None:
            params["type_of_call__exact"] = self.type_of_call
        return params


def preset_window(preset: str, now: datetime) -> Window:
    """The window of a preset (``24h``, ``7d``…) ending at ``now`` (to the second)."""
    end = now.replace(microsecond=0)
    return Window(end - PRESETS[preset], end)


def custom_window(first: date, last: date, zone: zoneinfo.ZoneInfo) -> Window:
    """Whole local days ``first`` .. ``last`` (both included)."""
    return date_window(first, last, zone)


def span_label(span: timedelta) -> str:
    """``24 h``, ``7 days``, ``1 day 12 h``: how long a window is."""
    days, rest = divmod(int(span.total_seconds()), 86_400)
    hours = rest // 3600
    if not days:
        return f"{hours} h"
    text = f"{days} day" + ("s" if days != 1 else "")
    return f"{text} {hours} h" if hours else text


# --- Drill-down links --------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _changelist(name: str) -> str:
    # Charts build hundreds of links per page; the path never changes.
    return reverse(name)


@lru_cache(maxsize=4096)
def _pair(key: str, value: str) -> str:
    # ``urlencode`` of one parameter. The links of a chart repeat the same few parameters (the
    # tenant, a bucket's bounds, a status) hundreds of times; each is encoded once.
    return f"{quote_plus(key)}={quote_plus(value)}"


def _encode(query: Mapping[str, Any]) -> str:
    return "&".join(_pair(str(key), str(value)) for key, value in query.items())


def calls_url(
    scope: Scope, window: Window, params: Mapping[str, Any] | None = None, *, filtered: bool = True
) -> str:
    """The admin call list of the tenant's calls started in ``window`` (exact instants), with the
    agent and type filters when ``filtered``, narrowed further by ``params``."""
    query: dict[str, Any] = {
        "tenant__id__exact": scope.tenant.pk,
        "start_time__gte": iso_utc(window.start),
        "start_time__lt": iso_utc(window.end),
    }
    if filtered:
        query.update(scope.filter_params())
    query.update(params or {})
    return f"{_changelist('admin:calls_call_changelist')}?{_encode(query)}"


def leads_url(scope: Scope, window: Window, column: str) -> str:
    """The admin lead list of the tenant's leads whose ``column`` stamp falls in ``window``."""
    query = {
        "tenant__id__exact": scope.tenant.pk,
        f"{column}__gte": iso_utc(window.start),
        f"{column}__lt": iso_utc(window.end),
    }
    return f"{_changelist('admin:calls_lead_changelist')}?{_encode(query)}"


# --- What the dashboard shows ------------------------------------------------------------------


Trend = Literal["up", "down", "flat", "none"]


@dataclass(frozen=True)
class Change:
    """A tile's change against the previous window, as the tile shows it.

    Counts and averages change in percent of their previous value ("+12.5% vs 8"); rates in
    percentage points ("\u22125.0 pp vs 68.1%"): a rate's relative change (63.1% against 68.1%
    as \u22127.3%) reads like a change of the rate itself. When the previous window has nothing
    to compare with, ``figure`` is ``None`` and ``versus`` says so ("no calls in previous
    period") instead of a percentage made up from zero. The sign, the rounding and the trend
    (the tile's arrow and colour) all follow the figure as shown, so "+0.0%" is never "up".
    The live tiles (``analytics/static/analytics/live.js``) show these strings as the server
    renders them, never their own.
    """

    # Percent of the previous value (``unit`` "%") or percentage points ("pp"); None: no figure.
    figure: float | None
    unit: Literal["%", "pp"]
    # What the figure is against ("vs 8"), or why there is none.
    versus: str

    @property
    def _shown(self) -> tuple[float, int] | None:
        """The figure as rounded for display, with its number of decimals: one, none for
        changes of 100% or more (a tenth of a percent of +124,800% says nothing)."""
        if self.figure is None:
            return None
        digits = 0 if self.unit == "%" and abs(self.figure) >= 100 else 1
        # ``+ 0.0`` turns a rounded -0.0 into 0.0.
        return round(self.figure, digits) + 0.0, digits

    @property
    def display(self) -> str:
        shown = self._shown
        if shown is None:
            return ""
        value, digits = shown
        sign = "+" if value > 0 else ("\u2212" if value < 0 else "\u00b1")
        number = f"{abs(value):,.{digits}f}"
        return f"{sign}{number}%" if self.unit == "%" else f"{sign}{number} pp"

    @property
    def trend(self) -> Trend:
        shown = self._shown
        if shown is None:
            return "none"
        value = shown[0]
        return "up" if value > 0 else ("down" if value < 0 else "flat")


def relative_change(
    current: float | None, previous: float | None, *, versus: str, absent: str
) -> Change:
    """The change of a count or an average in percent of its previous value (the APIs'
    ``percent_change``). ``absent`` is shown instead when the previous value is 0 or undefined:
    a change from nothing has no percentage."""
    if not previous:
        return Change(None, "%", absent)
    if current is None:
        return Change(None, "%", versus)
    return Change(percent_change(current, previous), "%", versus)


def rate_change(
    current: float | None, previous: float | None, *, versus: str, absent: str
) -> Change:
    """The change of a rate (in percent) in percentage points; ``absent`` when the previous
    rate is undefined (no calls to divide by)."""
    if previous is None:
        return Change(None, "pp", absent)
    return Change(point_change(current, previous), "pp", versus)


NO_CALLS_BEFORE = "no calls in previous period"


@dataclass(frozen=True)
class Tile:
    """A KPI: its value, its change against the previous window and its drill-down."""

    key: str
    label: str
    # What the number counts ("Successful calls / calls"), shown under the label.
    definition: str
    value: float | None
    display: str
    # None for a number at an instant (active calls now): there is nothing to compare it with.
    change: Change | None
    # How many calls the drill-down lists (and what they are).
    count: int
    count_label: str
    url: str
    note: str = ""
    # More about the definition, for the tooltip only.
    about: str = ""

    @property
    def tooltip(self) -> str:
        about = f" {self.about}" if self.about else ""
        return f"{self.definition}.{about} Open the {self.count_label} in the call list."

    def as_json(self) -> dict[str, Any]:
        """The tile as the live dashboard redraws it (``live.js``)."""
        return {
            "key": self.key,
            "display": self.display,
            "change": None
            if self.change is None
            else {
                "display": self.change.display,
                "versus": self.change.versus,
                "trend": self.change.trend,
            },
            "count_label": self.count_label,
            "tooltip": self.tooltip,
        }


@dataclass(frozen=True)
class Row:
    """One element of a chart, as a table row with its drill-down."""

    label: str
    count: int
    url: str
    detail: str = ""


@dataclass
class Dashboard:
    scope: Scope
    # The buckets of the volume chart and of the latency chart.
    interval: Interval
    latency_interval: Interval
    previous: Window
    tiles: list[Tile]
    # Chart specifications for ``analytics/static/analytics/charts.js`` (rendered as JSON).
    charts: dict[str, dict[str, Any]]
    tables: dict[str, list[Row]] = field(default_factory=dict)


def chart(
    kind: str,
    labels: Sequence[str],
    datasets: list[dict[str, Any]],
    *,
    stacked: bool = False,
    horizontal: bool = False,
    value_title: str = "",
    unit: str = "",
) -> dict[str, Any]:
    """A chart as ``charts.js`` draws it."""
    return {
        "type": kind,
        "labels": list(labels),
        "datasets": datasets,
        "stacked": stacked,
        "horizontal": horizontal,
        "valueTitle": value_title,
        "unit": unit,
    }


def dataset(
    label: str,
    data: Sequence[float | None],
    *,
    color: str,
    urls: Sequence[str | None] | None = None,
    notes: Sequence[str] | None = None,
    links: int | None = None,
    dash: Sequence[int] = (),
) -> dict[str, Any]:
    """A series; ``urls[i]`` is where a click on point ``i`` leads, ``notes[i]`` its tooltip.
    With ``links`` instead, they are the chart's ``links[links]``, shared with other series."""
    spec: dict[str, Any] = {"label": label, "data": list(data), "color": color, "dash": list(dash)}
    if links is not None:
        spec["links"] = links
    else:
        spec["urls"] = list(urls) if urls is not None else []
        spec["notes"] = list(notes) if notes is not None else []
    return spec


def _minutes(value: float) -> str:
    # Always one decimal: "52.7" next to "vs 5.0", never next to "vs 5".
    return f"{value:,.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _clip(start: datetime, end: datetime, window: Window) -> Window:
    return Window(max(start, window.start), min(end, window.end))


def _day_windows(window: Window, zone: zoneinfo.ZoneInfo) -> list[tuple[date, Window]]:
    """Each local day the window touches, with the part of it inside the window."""
    return [
        (d, _clip(day_start(d, zone), day_start(d + timedelta(days=1), zone), window))
        for d in local_days(window, zone)
    ]


def chart_interval(window: Window, zone: zoneinfo.ZoneInfo) -> Interval:
    """How the time-series charts of ``window`` are bucketed (see ``HOURLY_UP_TO``)."""
    if window.span <= HOURLY_UP_TO:
        return "hour"
    return "day" if len(local_days(window, zone)) <= DAILY_UP_TO else "week"


@dataclass(frozen=True)
class Bucket:
    """One element of a time-series chart: local days ``days`` (one, or the days of a local week
    inside the window) and the part of the window they cover, which its drill-down lists."""

    label: str
    days: tuple[date, ...]
    window: Window


def time_buckets(window: Window, zone: zoneinfo.ZoneInfo, interval: Interval) -> list[Bucket]:
    """The day or week buckets of ``window``, in order; a week cut by the window's start or end
    keeps the days inside it."""
    days = _day_windows(window, zone)
    if interval == "day":
        return [Bucket(d.strftime("%b %d"), (d,), w) for d, w in days]
    weeks: dict[date, list[tuple[date, Window]]] = {}
    for d, w in days:
        weeks.setdefault(week_start(d), []).append((d, w))
    buckets = []
    for members in weeks.values():
        first, last = members[0][0], members[-1][0]
        label = first.strftime("%b %d")
        if last != first:
            label += f"\u2013{last:%b %d}"
        buckets.append(
            Bucket(
                label,
                tuple(d for d, _ in members),
                Window(members[0][1].start, members[-1][1].end),
            )
        )
    return buckets


def _bucket_of(buckets: Sequence[Bucket]) -> dict[date, int]:
    """Local day -> the index of its bucket."""
    return {d: i for i, bucket in enumerate(buckets) for d in bucket.days}


def build_dashboard(scope: Scope, *, now: datetime) -> Dashboard:
    """Everything the dashboard shows for ``scope``: tiles, charts and their drill-downs."""
    window, zone = scope.window, scope.zone
    interval = chart_interval(window, zone)
    # Latency percentiles are per local day, or per week over long windows: an hour holds too
    # few samples for a p99, and the query layer keeps histograms per day.
    latency_interval: Interval = "week" if interval == "week" else "day"
    latency_buckets = time_buckets(window, zone, latency_interval)
    numbers = dashboard_numbers(
        tenant=scope.tenant,
        window=window,
        zone=zone,
        agent=scope.agent,
        type_of_call=scope.type_of_call,
        hourly=interval == "hour",
        weekly_latency=any(len(bucket.days) > 1 for bucket in latency_buckets),
        top=TOP_ROWS,
        now=now,
    )

    charts: dict[str, dict[str, Any]] = {}
    tables: dict[str, list[Row]] = {}
    charts["volume"] = (
        _hourly_volume(scope, numbers.hours)
        if interval == "hour"
        else _volume(scope, numbers.calls_by_day_status, time_buckets(window, zone, interval))
    )
    charts["end_reasons"], tables["end_reasons"] = _end_reasons(scope, numbers.calls_by_end_reason)
    charts["latency"] = _latency(scope, latency_buckets, numbers.latency)
    charts["agents"], tables["agents"] = _agents(scope, numbers.agents)
    charts["workflows"], tables["workflows"] = _workflows(scope, numbers.workflows)
    charts["funnel"], tables["funnel"] = _funnel(scope, numbers.funnel)
    return Dashboard(
        scope=scope,
        interval=interval,
        latency_interval=latency_interval,
        previous=window.previous(),
        tiles=_tiles(scope, numbers, now=now),
        charts=charts,
        tables=tables,
    )


# --- Tiles -------------------------------------------------------------------------------------


# The dashboard's success rate is the Synthflow family's (successful calls / calls); the
# voice-platform API's ``success_rate`` is a completion rate (completed calls / calls), which
# the dashboard shows per workflow under that name.
SUCCESS_RATE_DEFINITION = "Successful calls / calls"
SUCCESSFUL_ABOUT = (
    "A call is successful when its platform said so, else when it completed with a "
    "goodbye-like end reason (agent_goodbye, human_goodbye, ...). Not the completion rate "
    "(completed calls / calls) that the summary API calls success_rate."
)


def _tiles(scope: Scope, numbers: DashboardNumbers, *, now: datetime) -> list[Tile]:
    window = scope.window
    cur, prev, live = numbers.totals, numbers.totals_before, numbers.active
    all_calls = calls_url(scope, window)

    def calls_label(n: int, what: str = "calls") -> str:
        # "1 live call", "1 call with a duration": the first "calls" agrees with the number.
        return f"{n:,} {what.replace('calls', 'call', 1) if n == 1 else what}"

    success, success_before = (
        percent(cur.successful, cur.calls),
        percent(prev.successful, prev.calls),
    )
    positive, positive_before = percent(cur.positive, cur.calls), percent(prev.positive, prev.calls)
    minutes, minutes_before = cur.duration_sum / 60, prev.duration_sum / 60
    average = mean(cur.duration_sum, cur.duration_count)
    average_before = mean(prev.duration_sum, prev.duration_count)

    def average_display(seconds: float | None) -> str:
        return "-" if seconds is None else format_seconds(round(seconds))

    def count_change(
        current: float | None, previous: float | None, shown: str, what: str
    ) -> Change:
        # The previous window without calls says so; with calls but none of these, names them.
        absent = NO_CALLS_BEFORE if not prev.calls else f"no {what} in previous period"
        return relative_change(current, previous, versus=f"vs {shown}", absent=absent)

    def share_change(current: float | None, previous: float | None) -> Change:
        return rate_change(
            current, previous, versus=f"vs {_percent(previous)}", absent=NO_CALLS_BEFORE
        )

    return [
        Tile(
            key="calls",
            label="Calls",
            definition="Calls started in the range",
            value=cur.calls,
            display=f"{cur.calls:,}",
            change=count_change(cur.calls, prev.calls, f"{prev.calls:,}", "calls"),
            count=cur.calls,
            count_label=calls_label(cur.calls),
            url=all_calls,
        ),
        Tile(
            key="completed",
            label="Completed",
            definition="Calls with the status completed",
            value=cur.completed,
            display=f"{cur.completed:,}",
            change=count_change(
                cur.completed, prev.completed, f"{prev.completed:,}", "completed calls"
            ),
            count=cur.completed,
            count_label=calls_label(cur.completed, "completed calls"),
            url=calls_url(scope, window, {"status__exact": CallStatus.COMPLETED}),
        ),
        Tile(
            key="success_rate",
            label="Success rate",
            definition=SUCCESS_RATE_DEFINITION,
            value=success,
            display=_percent(success),
            change=share_change(success, success_before),
            count=cur.successful,
            count_label=f"{cur.successful:,} successful of {cur.calls:,}",
            url=calls_url(scope, window, {SUCCESSFUL_PARAM: "yes"}),
            about=SUCCESSFUL_ABOUT,
        ),
        Tile(
            key="minutes",
            label="Minutes",
            definition="Call durations added up",
            value=minutes,
            display=_minutes(minutes),
            change=count_change(minutes, minutes_before, _minutes(minutes_before), "call minutes"),
            count=cur.calls,
            count_label=calls_label(cur.calls),
            url=all_calls,
        ),
        Tile(
            key="average_duration",
            label="Average duration",
            definition="Call durations / calls with a duration",
            value=average,
            display=average_display(average),
            change=count_change(
                average,
                average_before,
                average_display(average_before),
                "calls with a duration",
            ),
            count=cur.duration_count,
            count_label=calls_label(cur.duration_count, "calls with a duration"),
            url=calls_url(scope, window, {"duration__isnull": "False"}),
        ),
        Tile(
            key="positive",
            label="Positive sentiment",
            definition="Calls with a positive sentiment / calls",
            value=positive,
            display=_percent(positive),
            change=share_change(positive, positive_before),
            count=cur.positive,
            count_label=f"{cur.positive:,} positive of {cur.calls:,}",
            url=calls_url(scope, window, {"sentiment__exact": Sentiment.POSITIVE}),
        ),
        Tile(
            key="active",
            label="Active calls now",
            definition="Calls in a live status at this instant",
            value=live.now,
            display=f"{live.now:,}",
            # A count at one instant: the same instant one window ago says nothing of a trend.
            change=None,
            count=live.now,
            count_label=calls_label(live.now, "live calls"),
            url=calls_url(scope, live.window, {ACTIVE_AT_PARAM: iso_utc(now)}, filtered=False),
            note="all agents and types",
        ),
    ]


# --- Charts ------------------------------------------------------------------------------------


def _status_color(status: str) -> str:
    return STATUS_COLORS.get(status, OTHER_COLOR)


def _volume(
    scope: Scope, current: Mapping[tuple[date, str], int], buckets: Sequence[Bucket]
) -> dict[str, Any]:
    """Calls per local day or week, stacked by status (most frequent first)."""
    bucket_of = _bucket_of(buckets)
    counts: dict[tuple[int, str], int] = defaultdict(int)
    per_status: Counter[str] = Counter()
    for (day, status), calls in current.items():
        counts[(bucket_of[day], status)] += calls
        per_status[status] += calls
    statuses = [s for s, _ in folds.top(per_status.items(), len(CallStatus))]
    datasets = [
        dataset(
            status,
            [counts.get((i, status), 0) for i in range(len(buckets))],
            color=_status_color(status),
            urls=[calls_url(scope, b.window, {"status__exact": status}) for b in buckets],
        )
        for status in statuses
    ]
    return chart("bar", [b.label for b in buckets], datasets, stacked=True, value_title="calls")


def _hourly_volume(scope: Scope, hours: Sequence[HourVolume]) -> dict[str, Any]:
    """Calls per local hour, stacked: completed, failed and every other status."""
    window, zone = scope.window, scope.zone
    starts = [hour.start for hour in hours]
    buckets = [
        (hour, _clip(hour.start, starts[i + 1] if i + 1 < len(starts) else window.end, window))
        for i, hour in enumerate(hours)
    ]
    others = ",".join(s for s in CallStatus.values if s not in {"completed", "failed"})
    parts: list[tuple[str, str, dict[str, str], Any]] = [
        ("completed", _status_color("completed"), {"status__exact": "completed"}, "completed"),
        ("failed", _status_color("failed"), {"status__exact": "failed"}, "failed"),
        ("other", OTHER_COLOR, {"status__in": others}, None),
    ]
    datasets = []
    for label, color, params, measure in parts:
        counts = []
        for hour, _ in buckets:
            if measure is None:
                counts.append(hour.calls - hour.completed - hour.failed)
            else:
                counts.append(getattr(hour, measure))
        datasets.append(
            dataset(
                label,
                counts,
                color=color,
                urls=[calls_url(scope, w, params) for _, w in buckets],
            )
        )
    labels = [hour.start.astimezone(zone).strftime("%b %d %H:%M") for hour, _ in buckets]
    return chart("bar", labels, datasets, stacked=True, value_title="calls")


def _bar_rows(rows: list[Row], *, color: str, value_title: str = "calls") -> dict[str, Any]:
    return chart(
        "bar",
        [r.label for r in rows],
        [
            dataset(
                value_title,
                [r.count for r in rows],
                color=color,
                urls=[r.url for r in rows],
                notes=[r.detail for r in rows],
            )
        ],
        horizontal=True,
        value_title=value_title,
    )


def _end_reasons(
    scope: Scope, per_reason: Mapping[str | None, int]
) -> tuple[dict[str, Any], list[Row]]:
    """Calls per end reason (calls without one have none to count, as in the Synthflow API)."""
    counts = {reason: n for reason, n in per_reason.items() if reason}
    total = sum(per_reason.values())
    rows = [
        Row(
            label=reason,
            count=n,
            url=calls_url(scope, scope.window, {END_REASON_PARAM: reason}),
            detail=f"{_percent(percent(n, total))} of calls",
        )
        for reason, n in folds.top(counts.items(), TOP_END_REASONS)
    ]
    return _bar_rows(rows, color="#8e6cc0"), rows


def _ranked(
    scope: Scope, ranked: Sequence[RankedTotals], param: str, detail: Callable[[RankedTotals], str]
) -> list[Row]:
    """A row per ranked agent or workflow, each linking to the calls it counts through the
    changelist filter ``param``."""
    return [
        Row(
            label=item.name,
            count=item.totals.calls,
            url=calls_url(scope, scope.window, {param: item.pk}),
            detail=detail(item),
        )
        for item in ranked
    ]


def _agents(scope: Scope, agents: Sequence[RankedTotals]) -> tuple[dict[str, Any], list[Row]]:
    """The agents with the most calls, with their success rate (successful calls / calls)."""
    rows = _ranked(
        scope,
        agents,
        "agent__id__exact",
        lambda a: (
            f"success rate {_percent(percent(a.totals.successful, a.totals.calls))} "
            f"(successful / calls), {a.totals.completed:,} completed"
        ),
    )
    return _bar_rows(rows, color="#3b82c4"), rows


def _workflows(scope: Scope, workflows: Sequence[RankedTotals]) -> tuple[dict[str, Any], list[Row]]:
    """The workflows with the most calls, with their completion rate (completed calls / calls:
    the workflow-stats API's ``success_rate``)."""
    rows = _ranked(
        scope,
        workflows,
        "workflow__id__exact",
        lambda w: (
            f"completion rate {_percent(percent(w.totals.completed, w.totals.calls))} "
            "(completed / calls)"
        ),
    )
    return _bar_rows(rows, color="#4aa3a2"), rows


# The funnel API's stage names but the second, which the dashboard names by what it counts (its
# caption's definition); the API keeps "Engaged (Started Chat)", the name its clients match on.
FUNNEL_LABELS = (FUNNEL_STAGES[0], "Engaged (completed calls)", *FUNNEL_STAGES[2:])


def _funnel(scope: Scope, funnel: FunnelCounts) -> tuple[dict[str, Any], list[Row]]:
    """Visitors (calls) → Engaged (completed calls) → leads by the stage stamped in the window."""
    window = scope.window
    counts = [funnel.calls, funnel.completed, *(stage.count for stage in funnel.leads)]
    urls = [
        calls_url(scope, window, filtered=False),
        calls_url(scope, window, {"status__exact": CallStatus.COMPLETED}, filtered=False),
        *(leads_url(scope, window, stage.column) for stage in funnel.leads),
    ]
    rows = []
    for i, (name, count) in enumerate(zip(FUNNEL_LABELS, counts, strict=True)):
        onward = ratio(counts[i + 1], count) if i + 1 < len(counts) else None
        detail = "" if onward is None else f"{onward * 100:.1f}% go on to the next stage"
        rows.append(Row(label=name, count=count, url=urls[i], detail=detail))
    return _bar_rows(rows, color="#2e9e5b", value_title="entries"), rows


def _latency(
    scope: Scope,
    buckets: Sequence[Bucket],
    by_key: Mapping[tuple[date, str, str], LatencyPoint],
) -> dict[str, Any]:
    """p50/p95/p99 of the latency samples per provider and chart bucket (local day or week; all
    agents and types: latency facts are per tenant)."""
    weekly = any(len(bucket.days) > 1 for bucket in buckets)
    # A bucket is one local day, or the days of one local week (keyed by its Monday).
    bucket_of = {
        week_start(bucket.days[0]) if weekly else bucket.days[0]: i
        for i, bucket in enumerate(buckets)
    }
    series = {(bucket_of[key], ptype, name): point for (key, ptype, name), point in by_key.items()}
    providers = sorted(
        {(ptype, name) for _, ptype, name in series},
        key=lambda p: (PROVIDER_ORDER.get(p[0], 99), p[0], p[1]),
    )
    datasets = []
    links = []
    for index, (ptype, name) in enumerate(providers):
        color = PALETTE[index % len(PALETTE)]
        provider = {PROVIDER_PARAM: f"{ptype}:{name}"}
        urls: list[str | None] = []
        notes: list[str] = []
        for i, bucket in enumerate(buckets):
            point = series.get((i, ptype, name))
            urls.append(
                calls_url(scope, bucket.window, provider, filtered=False) if point else None
            )
            notes.append(f"{point.calls:,} calls, {point.samples:,} samples" if point else "")
        # The three lines of a provider share their points' links and notes (sent once).
        links.append({"urls": urls, "notes": notes})
        for position, label in enumerate(PERCENTILE_LABELS):
            values = []
            for i in range(len(buckets)):
                point = series.get((i, ptype, name))
                values.append(_rounded(point.percentiles, position) if point else None)
            datasets.append(
                dataset(
                    f"{ptype} · {name} {label}",
                    values,
                    color=color,
                    links=index,
                    dash=PERCENTILE_DASHES.get(label, ()),
                )
            )
    spec = chart(
        "line", [b.label for b in buckets], datasets, value_title="latency (ms)", unit="ms"
    )
    spec["links"] = links
    return spec


def _rounded(values: Sequence[float | None], position: int) -> float | None:
    if position >= len(values) or values[position] is None:
        return None
    return round(float(values[position]), 1)  # type: ignore[arg-type]
