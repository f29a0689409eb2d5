"""Analytics from rollups against analytics from raw rows, on PostgreSQL, over HTTP, for windows
ending now.

    .venv/bin/python bench/analytics_rollups.py [--calls N] [--repeat R] [--raw-repeat R]
        [--windows 1h,24h,…] [--endpoints summary,funnel,…] [--skip-rebuild]

1. Loads ``--calls`` demo calls over 365 days into the ``bench`` tenant (``bench.common``).
   ``seed_demo`` ends its calls at the UTC midnight of the day it ran, so the calls from the
   newest one up to now are written through the ingestion path (``ingest_call_documents``) at
   the tenant's recent rate: the windows end now, over data that reaches now.
2. Rebuilds every rollup of the tenant and times it (``--skip-rebuild``: rolls the dirty days
   only), prints the rollup tables' size (compacted with ``VACUUM FULL``), then writes the last
   few minutes of calls, which leave today dirty, as continuous ingestion does in production.
3. Times rolling the tenant's busiest hour within the hour horizon
   (``analytics.rollups.roll_hour``) and one tenant-day of 30,000 calls or more.
4. Starts two gunicorn servers on this database, one with ``ANALYTICS_USE_ROLLUPS=1`` and one
   with it off, and times every analytics endpoint for every window from both: p50/p95 per
   cell, the raw/rollup ratios, and each cell against its bar.
5. Times the admin dashboard server-side (rollups on) for its presets and a custom year.
6. Prints the figures as Markdown tables for ``bench/README.md``.

``--calls 10000000`` runs the 10M variant (it loads for about an hour on two cores).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_database_url,
    drop_tenant,
    ensure_database,
    ensure_loaded,
    make_documents,
    percentiles,
    print_machine_info,
    setup_django,
    start_gunicorn,
    stop_server,
)

PORTS = {"rollups": 8701, "raw": 8702}
Figures = dict[str, float]

# --- Windows and endpoints ----------------------------------------------------------------------

# Window name -> its length; every window ends now except ``30d-midnight``, which ends at the
# tenant's last local midnight (whole days only, every one of them rolled).
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "120d": timedelta(days=120),
    "365d": timedelta(days=365),
    "30d-midnight": timedelta(days=30),
}
ENDPOINTS = (
    "v2/analytics",
    "summary",
    "call-volume (hour)",
    "call-volume (day)",
    "workflow-stats",
    "provider-latency",
    "errors",
    "active-calls",
    "overview",
    "funnel",
    "activity",
)
# Answers read from raw rows whatever ANALYTICS_USE_ROLLUPS says: no speed-up bar applies.
RAW_ONLY_ENDPOINTS = frozenset({"errors", "active-calls"})
# Spans an endpoint refuses by contract; other refusals are found by asking (a 400 or 422).
CAPS = {"v2/analytics": timedelta(days=120)}


@dataclass(frozen=True)
class Span:
    """A benchmark window: the instants it covers and the tenant-local days it touches (the
    sales endpoints take whole days)."""

    name: str
    start: datetime
    end: datetime
    first: date
    last: date


def span_of(name: str, now: datetime, zone: Any) -> Span:
    """The window ``name`` ending now (or at the last local midnight). Day-long windows are
    counted on the tenant's wall clock, as a person picking "the last 120 days" means them, so
    a window across a DST change stays within the Synthflow cap measured the same way."""
    length = WINDOWS[name]
    local_now = now.astimezone(zone)
    if name.endswith("-midnight"):
        end = datetime.combine(local_now.date(), datetime.min.time(), tzinfo=zone)
    else:
        end = local_now
    # Aware arithmetic in one zone is wall-clock arithmetic; hours are counted on the UTC line.
    start = end - length if length.days else end.astimezone(UTC) - length
    end_utc, start_utc = end.astimezone(UTC), start.astimezone(UTC)
    last_instant = end_utc - timedelta(microseconds=1)
    return Span(
        name=name,
        start=start_utc,
        end=end_utc,
        first=start_utc.astimezone(zone).date(),
        last=last_instant.astimezone(zone).date(),
    )


def request_for(endpoint: str, span: Span) -> tuple[str, dict[str, str]]:
    """The path and query of ``endpoint`` for ``span``."""
    instants = {"started_after": span.start.isoformat(), "started_before": span.end.isoformat()}
    days = {"startDate": span.first.isoformat(), "endDate": span.last.isoformat()}
    api = "/api/v1/analytics/"
    return {
        "v2/analytics": (
            "/v2/analytics/",
            {"from_date": instants["started_after"], "to_date": instants["started_before"]},
        ),
        "summary": (api + "summary", instants),
        "call-volume (hour)": (api + "call-volume", {**instants, "interval": "hour"}),
        "call-volume (day)": (api + "call-volume", {**instants, "interval": "day"}),
        "workflow-stats": (api + "workflow-stats", instants),
        "provider-latency": (api + "provider-latency", instants),
        "errors": (api + "errors", instants),
        "active-calls": (api + "active-calls", instants),
        "overview": (
            api + "overview",
            {**days, "granularity": "week", "compareWith": "previous_period"},
        ),
        "funnel": (api + "funnel", days),
        "activity": (api + "activity", {**days, "limit": "20"}),
    }[endpoint]


# --- Bars ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bars:
    size: str
    p95_ms: float
    speedups: dict[str, float]  # window -> least raw/rollup ratio of the medians

    def describe(self) -> str:
        faster = ", ".join(f"{w} ≥ {x:g}x faster than raw" for w, x in self.speedups.items())
        faster += " (ratio of the medians; not for errors and active-calls, raw rows either way)"
        return f"{self.size}: every cell p95 ≤ {self.p95_ms:g} ms; {faster}"


BARS_1M = Bars("1M calls", 30, {"24h": 5, "7d": 5})
BARS_10M = Bars("10M calls", 60, {"24h": 10})
ROLL_HOUR_BAR_MS = 50
ROLL_DAY_BAR_MS = 300
REBUILD_10M_BAR_S = 180


def bars_for(calls: int) -> Bars:
    """The bars of the nearer of the two reference sizes."""
    return BARS_10M if calls >= 3_000_000 else BARS_1M


def verdict(ok: bool) -> str:
    return "ok" if ok else "over"


# --- Data reaching now ---------------------------------------------------------------------------

# The last minutes of calls are written after the rollups are built: today stays dirty, as under
# continuous ingestion, where every write marks its day (``analytics.rollups.mark_days_dirty``).
LIVE_TAIL = timedelta(minutes=15)
# A gap longer than this is left empty (a database loaded long ago is better reloaded).
TOP_UP_LIMIT = timedelta(days=3)
INGEST_BATCH = 500


def hourly_rate(tenant: Any, newest: datetime) -> float:
    """Calls per hour over the week before the tenant's newest call."""
    from calls.models import Call

    week = Call.objects.filter(
        tenant=tenant, start_time__gt=newest - timedelta(days=7), start_time__lte=newest
    ).count()
    return week / (7 * 24)


def write_live_calls(
    tenant: Any, start: datetime, end: datetime, per_hour: float, *, minimum: int = 0
) -> int:
    """Posts calls started between ``start`` and ``end`` at ``per_hour`` (at least ``minimum``)
    through the ingestion path, in batches as the API receives them; returns how many."""
    from calls.services import ingest_call_documents

    count = max(minimum, round(per_hour * (end - start).total_seconds() / 3600))
    if count < 1 or end - start < timedelta(seconds=1):
        return 0
    documents = make_documents(count, seed=int(start.timestamp()), start=start, span=end - start)
    for i in range(0, count, INGEST_BATCH):
        ingest_call_documents(tenant=tenant, documents=documents[i : i + INGEST_BATCH])
    return count


def top_up(tenant: Any, until: datetime) -> tuple[int, float]:
    """Writes the calls from the tenant's newest call up to ``until``; returns how many, and
    the hourly rate they were written at."""
    from calls.models import Call

    newest = Call.objects.filter(tenant=tenant).order_by("-start_time").first()
    if newest is None or newest.start_time >= until:
        return 0, 0.0
    rate = hourly_rate(tenant, newest.start_time)
    start = newest.start_time + timedelta(seconds=1)
    if until - start > TOP_UP_LIMIT:
        print(
            f"the newest call is {until - start} old: writing the last {TOP_UP_LIMIT} only "
            "(reload the tenant for data without a gap)"
        )
        start = until - TOP_UP_LIMIT
    return write_live_calls(tenant, start, until, rate), rate


# --- Rolling ------------------------------------------------------------------------------------


def rebuild(tenant: Any, jobs: int) -> tuple[float, int]:
    """Seconds to rebuild every rollup of the tenant with ``manage.py rollups`` in ``jobs``
    processes (including its closing VACUUM ANALYZE), and how many days it rolled."""
    from django.core.management import call_command

    from analytics.models import RollupDay
    from analytics.windows import local_date
    from calls.models import Call

    zone = tenant.zone
    times = (
        Call.objects.filter(tenant=tenant)
        .order_by("start_time")
        .values_list("start_time", flat=True)
    )
    first, last = local_date(times.first(), zone), local_date(times.last(), zone)
    started = time.perf_counter()
    call_command(
        "rollups",
        tenant=tenant.slug,
        first=first,
        last=last,
        jobs=jobs,
        verbosity=0,
    )
    seconds = time.perf_counter() - started
    days = RollupDay.objects.filter(tenant=tenant, day__gte=first, day__lte=last).count()
    return seconds, days


def roll_dirty() -> float:
    """Seconds to roll every dirty day (``manage.py rollups --dirty``)."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("rollups", dirty=True, verbosity=0)
    return time.perf_counter() - started


def rollup_sizes() -> list[tuple[str, int, int]]:
    """Rows and bytes (indexes included) of every rollup table, compacted first: a rebuild
    replaces every row, and the space of the rows it replaced stays in the files until a
    ``VACUUM FULL``, so uncompacted sizes would depend on how often the tables were rebuilt."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname LIKE 'analytics_%%' "
            "ORDER BY relname"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"VACUUM FULL ANALYZE {connection.ops.quote_name(name)}")
        cursor.execute(
            "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            "WHERE relname LIKE 'analytics_%%' ORDER BY relname"
        )
        return list(cursor.fetchall())


def median_seconds(roll: Callable[[], object], times: int = 3) -> float:
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        roll()
        samples.append(time.perf_counter() - began)
    return sorted(samples)[len(samples) // 2]


def busy_hour(tenant: Any) -> tuple[float, datetime, int] | None:
    """Median seconds to roll the tenant's busiest UTC hour with ``analytics.rollups.roll_hour``
    (``tenant_id``, ``hour``: the hour's aware UTC start), its start and its calls; None when
    the tenant has no call within the hour horizon."""
    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from analytics.facts.vocabulary import hour_horizon
    from analytics.rollups import roll_hour
    from calls.models import Call

    # Hours older than the horizon are not rolled: the busiest hour the rolls keep.
    busiest = (
        Call.objects.filter(tenant=tenant, start_time__gte=hour_horizon())
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    if busiest is None:
        return None
    hour = busiest["hour"].astimezone(UTC)
    seconds = median_seconds(lambda: roll_hour(tenant_id=tenant.pk, hour=hour))
    return seconds, hour, busiest["n"]


def busiest_day(tenant: Any) -> tuple[date, int] | None:
    """The local day of ``tenant`` with the most calls, and their number."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from calls.models import Call

    busiest = (
        Call.objects.filter(tenant=tenant)
        .annotate(day=TruncDate("start_time", tzinfo=tenant.zone))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    return (busiest["day"], busiest["n"]) if busiest else None


def busy_day(main: Any) -> tuple[float, str, date, int]:
    """Median seconds to roll one tenant-day holding at least 30,000 calls: the busiest day of
    the benchmark tenant when it has one (the 10,000,000-call run), else the one whole UTC day
    (yesterday's when it was loaded) of the ``bench-day`` tenant; with the tenant, the day and
    its calls."""
    from django.core.management import call_command
    from django.db import connection

    from analytics import rollups
    from calls.models import Tenant

    busiest = busiest_day(main)
    if busiest and busiest[1] >= 30_000:
        day, count = busiest
        seconds = median_seconds(lambda: rollups.roll_day(tenant_id=main.pk, day=day))
        return seconds, main.slug, day, count

    tenant = Tenant.objects.filter(slug="bench-day").first()
    busiest = busiest_day(tenant) if tenant else None
    if busiest is None or busiest[1] < 30_000:
        if tenant is not None:  # loaded otherwise (an older layout): loaded again
            drop_tenant(tenant.slug)
        # The day before today's UTC midnight, so that all 30,000 calls fall on that one day.
        call_command(
            "seed_demo",
            tenant="bench-day",
            calls=30_000,
            days=1,
            seed=7,
            timezone="UTC",
            until=datetime.now(UTC).date().isoformat(),
            verbosity=0,
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        tenant = Tenant.objects.get(slug="bench-day")
        busiest = busiest_day(tenant)
        assert busiest is not None
    day, count = busiest
    seconds = median_seconds(lambda: rollups.roll_day(tenant_id=tenant.pk, day=day))
    return seconds, tenant.slug, day, count


# --- HTTP ---------------------------------------------------------------------------------------


def start_server(name: str, port: int) -> subprocess.Popen[bytes]:
    return start_gunicorn(
        port,
        READ_API_RATE="off",
        ANALYTICS_USE_ROLLUPS="1" if name == "rollups" else "0",
        # The raw server is the reference a year of raw rows is timed against: no statement
        # limit (production's 5 s would answer its longest windows 503).
        API_READ_STATEMENT_TIMEOUT_MS="5000" if name == "rollups" else "0",
    )


class Refused(Exception):
    """The endpoint refused the window (its cap); the message is its answer."""


def time_requests(
    port: int, key: str, path: str, params: dict[str, str], repeat: int
) -> list[float]:
    """ms of ``repeat`` requests after an untimed one that warms the worker."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    url = f"{path}?{urlencode(params)}"
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    for i in range(repeat + 1):
        began = time.perf_counter()
        connection.request("GET", url, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status in (400, 422) and i == 0:
            raise Refused(body[:200].decode(errors="replace"))
        if response.status != 200:
            raise SystemExit(f"{url} -> {response.status}: {body[:300]!r}")
        if i:
            samples.append(elapsed * 1000)
    json.loads(body)
    return samples


@dataclass
class Cell:
    endpoint: str
    window: str
    rolled: Figures | None = None
    raw: Figures | None = None
    refused: str = ""

    def ratio(self, key: str) -> float | None:
        if not self.rolled or not self.raw or not self.rolled[key]:
            return None
        return self.raw[key] / self.rolled[key]

    def verdict(self, bars: Bars) -> str:
        if self.refused or not self.rolled:
            return ""
        parts = [f"p95 ≤ {bars.p95_ms:g}: {verdict(self.rolled['p95'] <= bars.p95_ms)}"]
        need = bars.speedups.get(self.window)
        if need and self.endpoint not in RAW_ONLY_ENDPOINTS:
            ratio = self.ratio("p50")
            parts.append(
                f"≥ {need:g}x: {verdict(ratio >= need)}" if ratio else f"≥ {need:g}x: no raw run"
            )
        return "; ".join(parts)


def time_cells(
    tenant: Any, key: str, windows: list[str], endpoints: list[str], args: argparse.Namespace
) -> list[Cell]:
    from django.utils import timezone

    cells = []
    print(
        f"{'endpoint':20} {'window':>12} {'rollup p50':>10} {'p95':>7} "
        f"{'raw p50':>8} {'p95':>7} {'ratio p50':>9} {'p95':>6}"
    )
    for name in windows:
        span = span_of(name, timezone.now(), tenant.zone)
        for endpoint in endpoints:
            cell = Cell(endpoint, name)
            cap = CAPS.get(endpoint)
            path, params = request_for(endpoint, span)
            if cap is not None and WINDOWS[name] > cap:
                cell.refused = f"over its {cap.days}-day cap"
            else:
                try:
                    cell.rolled = percentiles(
                        time_requests(PORTS["rollups"], key, path, params, args.repeat)
                    )
                    if args.raw_repeat:
                        cell.raw = percentiles(
                            time_requests(PORTS["raw"], key, path, params, args.raw_repeat)
                        )
                except Refused as exc:
                    cell.refused = f"refused: {exc}"
            cells.append(cell)
            print(f"{endpoint:20} {name:>12} {row_figures(cell, plain=True)}", flush=True)
    return cells


def row_figures(cell: Cell, *, plain: bool = False) -> str:
    """The cell's figures: aligned columns (``plain``) or Markdown cells."""
    if cell.refused:
        return cell.refused if plain else f"{cell.refused} | | | | | |"

    def ms(figures: Figures | None, key: str) -> str:
        return f"{figures[key]:.1f}" if figures else "-"

    def ratio(key: str) -> str:
        value = cell.ratio(key)
        return f"{value:.1f}x" if value else "-"

    values = [
        ms(cell.rolled, "p50"),
        ms(cell.rolled, "p95"),
        ms(cell.raw, "p50"),
        ms(cell.raw, "p95"),
        ratio("p50"),
        ratio("p95"),
    ]
    if plain:
        widths = (10, 7, 8, 7, 9, 6)
        return " ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True))
    return " | ".join(values)


# --- Admin dashboard ----------------------------------------------------------------------------

DASHBOARD_RANGES = ("24h", "7d", "30d", "90d", "365 days (custom)")


def dashboard_times(tenant: Any, repeat: int) -> list[tuple[str, Figures, Figures]]:
    """Per dashboard range (the presets, ending now, and a custom year of whole local days):
    the build alone (``build_dashboard``) and the whole admin page rendered through Django's
    test client, in ms."""
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from analytics.dashboard import Scope, build_dashboard, custom_window, preset_window

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    rows = []
    for name in DASHBOARD_RANGES:
        now = timezone.now()
        today = now.astimezone(tenant.zone).date()
        if name.endswith("(custom)"):
            first = today - timedelta(days=364)
            window = custom_window(first, today, tenant.zone)
            params = {"from_date": first.isoformat(), "to_date": today.isoformat()}
        else:
            window = preset_window(name, now)
            params = {"range": name}
        scope = Scope(tenant=tenant, window=window)
        params["tenant"] = str(tenant.pk)
        builds, pages = [], []
        for i in range(repeat + 1):
            began = time.perf_counter()
            build_dashboard(scope, now=now)
            built = time.perf_counter()
            response = client.get("/admin/analytics/dashboard/", params)
            ended = time.perf_counter()
            if response.status_code != 200:
                raise SystemExit(f"dashboard {params} -> {response.status_code}")
            if i:  # the first round warms caches
                builds.append((built - began) * 1000)
                pages.append((ended - built) * 1000)
        rows.append((name, percentiles(builds), percentiles(pages)))
    return rows


# --- Report -------------------------------------------------------------------------------------


@dataclass
class Rolling:
    rebuild: tuple[float, int] | None = None  # seconds, days
    hour: tuple[float, datetime, int] | None = None
    day: tuple[float, str, date, int] | None = None


def print_markdown(
    machine: dict[str, Any],
    data: str,
    calls: int,
    jobs: int,
    rolling: Rolling,
    cells: list[Cell],
    bars: Bars,
) -> None:
    memory = machine.get("memory_gib")
    print("\n---- Markdown for bench/README.md ----\n")
    print(
        f"{machine['cpu']}, {machine['cores']} cores, {memory} GiB RAM, PostgreSQL "
        f"{machine.get('postgresql', '?')}, Python {machine['python']}. {data}\n"
    )
    print("| rolling | figure | bar |")
    print("|---|---|---|")
    if rolling.rebuild:
        seconds, days = rolling.rebuild
        # The bar is set for 10M calls; a smaller tenant's rebuild is mostly fixed costs.
        bar = f"10M ≤ {REBUILD_10M_BAR_S} s"
        if bars is BARS_10M:
            bar += f": {verdict(seconds * 10_000_000 / calls <= REBUILD_10M_BAR_S)}"
        print(
            f"| full rebuild, {jobs} processes, {days} days | {seconds:.1f} s "
            f"({seconds / (calls / 1_000_000):.1f} s per million calls) | {bar} |"
        )
    else:
        print("| full rebuild | skipped (`--skip-rebuild`) | |")
    if rolling.hour:
        seconds, hour, n = rolling.hour
        print(
            f"| busiest hour ({hour:%Y-%m-%d %H:00} UTC, {n:,} calls), median of 3 | "
            f"{seconds * 1000:.0f} ms | ≤ {ROLL_HOUR_BAR_MS} ms: "
            f"{verdict(seconds * 1000 <= ROLL_HOUR_BAR_MS)} |"
        )
    else:
        print("| busiest hour | no `analytics.rollups.roll_hour` | |")
    if rolling.day:
        seconds, slug, day, n = rolling.day
        print(
            f"| one day ({slug} {day}, {n:,} calls), median of 3 | {seconds * 1000:.0f} ms | "
            f"≤ {ROLL_DAY_BAR_MS} ms: {verdict(seconds * 1000 <= ROLL_DAY_BAR_MS)} |"
        )
    print(f"\nHTTP latency in ms, rollups against raw rows; bars {bars.describe()}.\n")
    print(
        "| endpoint | window | rollups p50 | rollups p95 | raw p50 | raw p95 | raw/rollups p50 "
        "| raw/rollups p95 | bar |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        print(f"| {cell.endpoint} | {cell.window} | {row_figures(cell)} | {cell.verdict(bars)} |")
    refused = sorted({(c.endpoint, c.refused) for c in cells if c.refused})
    if refused:
        print()
        for endpoint, reason in refused:
            print(f"- {endpoint}: {reason}")


# --- Main ---------------------------------------------------------------------------------------


def subset(value: str, allowed: tuple[str, ...] | list[str], flag: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise SystemExit(f"{flag}: unknown {', '.join(unknown)}; expected {', '.join(allowed)}")
    return [name for name in allowed if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls the tenant holds")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per rollup cell")
    parser.add_argument(
        "--raw-repeat",
        type=int,
        default=5,
        help="timed requests per raw cell (0: rollups only, as for the 10,000,000-call run)",
    )
    parser.add_argument(
        "--windows",
        default=",".join(WINDOWS),
        help="windows to time, comma list of " + ", ".join(WINDOWS),
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help="endpoints to time, comma list of " + ", ".join(ENDPOINTS),
    )
    parser.add_argument(
        "--skip-rebuild",
        action="store_true",
        help="keep the rollups already built (roll only the dirty days)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="rebuild processes (CPU count)"
    )
    parser.add_argument(
        "--without-transcripts",
        action="store_true",
        help="load calls without transcript turns (quicker for the 10,000,000-call run)",
    )
    args = parser.parse_args()
    windows = subset(args.windows, list(WINDOWS), "--windows")
    endpoints = subset(args.endpoints, ENDPOINTS, "--endpoints")

    setup_django(bench_database_url())
    ensure_database()
    machine = print_machine_info("analytics: rollups against raw rows, windows ending now")
    tenant = ensure_loaded(calls=args.calls, transcripts=not args.without_transcripts)
    from django.utils import timezone

    from calls.keys import create_api_key
    from calls.models import Call

    topped, rate = top_up(tenant, timezone.now() - LIVE_TAIL)
    if topped:
        print(f"live calls up to {LIVE_TAIL} ago: {topped:,} written ({rate:.0f} per hour)")
    rolling = Rolling()
    if args.skip_rebuild:
        print(f"rolled the dirty days in {roll_dirty():.1f} s")
    else:
        rolling.rebuild = rebuild(tenant, args.jobs)
        seconds, days = rolling.rebuild
        print(f"full rebuild ({args.jobs} processes): {days} days in {seconds:.1f} s")
    print("rollup tables (all tenants), compacted:")
    calls = Call.objects.filter(tenant=tenant).count()
    total = 0
    for name, rows, size in rollup_sizes():
        total += size
        print(f"  {name:32} {rows:>10,} rows {size / 2**20:>8.1f} MiB")
    per_million = total / 2**20 / (calls / 1_000_000)
    print(f"  per million calls: {per_million:.1f} MiB")
    rolling.hour = busy_hour(tenant)
    if rolling.hour:
        seconds, hour, n = rolling.hour
        print(
            f"rolling the busiest hour ({hour:%Y-%m-%d %H:00} UTC, {n:,} calls): "
            f"{seconds * 1000:.0f} ms (median of 3)"
        )
    else:
        print("rolling one hour: analytics.rollups has no roll_hour")
    rolling.day = busy_day(tenant)
    seconds, slug, day, n = rolling.day
    print(f"rolling one day ({slug} {day}, {n:,} calls): {seconds * 1000:.0f} ms (median of 3)")

    newest = Call.objects.filter(tenant=tenant).latest("start_time")
    tail_start = max(timezone.now() - LIVE_TAIL, newest.start_time + timedelta(seconds=1))
    tail = write_live_calls(
        tenant,
        tail_start,
        timezone.now(),
        rate or hourly_rate(tenant, newest.start_time),
        minimum=1,  # today dirty, whatever the rate
    )
    calls = Call.objects.filter(tenant=tenant).count()
    oldest = Call.objects.filter(tenant=tenant).earliest("start_time")
    data = (
        f"Tenant `{tenant.slug}` ({tenant.timezone}): {calls:,} calls from "
        f"{oldest.start_time:%Y-%m-%d} to now, the last {topped + tail:,} written through "
        f"ingestion this run ({tail:,} of them in the last {LIVE_TAIL.seconds // 60} minutes, "
        f"after the roll, so today is dirty); rollup tables {per_million:.1f} MiB per million "
        "calls."
    )
    print(f"\n{data}\n")

    bars = bars_for(calls)
    _, key = create_api_key(tenant=tenant, name="bench")
    servers = {
        name: start_server(name, port)
        for name, port in PORTS.items()
        if name == "rollups" or args.raw_repeat
    }
    try:
        cells = time_cells(tenant, key, windows, endpoints, args)
    finally:
        for process in servers.values():
            stop_server(process)

    print("\nadmin dashboard, server side with rollups, ms (build alone; whole page rendered):")
    for name, build, page in dashboard_times(tenant, repeat=args.repeat):
        print(
            f"  {name:18} build p50 {build['p50']:6.1f} p95 {build['p95']:6.1f}   "
            f"page p50 {page['p50']:6.1f} p95 {page['p95']:6.1f}",
            flush=True,
        )
    print_markdown(machine, data, calls, args.jobs, rolling, cells, bars)


if __name__ == "__main__":
    main()
