"""Analytics from rollups against analytics from raw rows, on PostgreSQL, over HTTP.

    .venv/bin/python bench/analytics_rollups.py [--calls N] [--repeat R] [--raw-repeat R]

1. Loads ``--calls`` demo calls over 365 days into the ``bench`` tenant (``bench.common``; runs
   ``VACUUM ANALYZE`` after loading).
2. Rebuilds every rollup of the tenant and times it (total, per day, and per million calls), and
   prints the rollup tables' size per million calls (compacted with ``VACUUM FULL``).
3. Times rolling one tenant-day of 30,000 calls (tenant ``bench-day``).
4. Starts two gunicorn servers on this database, one with ``ANALYTICS_USE_ROLLUPS=1`` and one
   with it off, and prints p50/p95 of every analytics endpoint for 7/30/120/365-day windows
   ending now from each, and their ratio.
5. Times the admin dashboard server-side (rollups on) for its presets and a custom year: the
   build alone and the whole page rendered through Django's test client.

``--calls 10000000`` runs the 10M variant (it loads for about an hour on two cores).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    bench_database_url,
    ensure_database,
    ensure_loaded,
    percentiles,
    print_machine_info,
    setup_django,
)

WINDOWS = (7, 30, 120, 365)
PORTS = {"rollups": 8701, "raw": 8702}


def rebuild(tenant: object, jobs: int) -> tuple[float, int]:
    """Seconds to rebuild every rollup of the tenant with ``manage.py rollups`` in ``jobs``
    processes (including its closing VACUUM ANALYZE), and how many days it rolled."""
    from django.core.management import call_command

    from analytics.models import RollupDay
    from analytics.windows import local_date
    from calls.models import Call

    zone = tenant.zone  # type: ignore[attr-defined]
    times = (
        Call.objects.filter(tenant=tenant)
        .order_by("start_time")
        .values_list("start_time", flat=True)
    )
    first, last = local_date(times.first(), zone), local_date(times.last(), zone)
    started = time.perf_counter()
    call_command(
        "rollups",
        tenant=tenant.slug,  # type: ignore[attr-defined]
        first=first,
        last=last,
        jobs=jobs,
        verbosity=0,
    )
    seconds = time.perf_counter() - started
    days = RollupDay.objects.filter(tenant=tenant, day__gte=first, day__lte=last).count()
    return seconds, days


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


def busy_day(main: object) -> float:
    """Median seconds to roll one tenant-day holding at least 30,000 calls: the busiest day of
    the benchmark tenant when it has one (the 10,000,000-call run), else the only day of the
    ``bench-day`` tenant."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from analytics import rollups
    from analytics.windows import local_date
    from calls.models import Call, Tenant

    busiest = (
        Call.objects.filter(tenant=main)
        .annotate(day=TruncDate("start_time", tzinfo=main.zone))  # type: ignore[attr-defined]
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    if busiest and busiest["n"] >= 30_000:
        samples = []
        for _ in range(3):
            began = time.perf_counter()
            rollups.roll_day(tenant_id=main.pk, day=busiest["day"])  # type: ignore[attr-defined]
            samples.append(time.perf_counter() - began)
        print(f"busiest {main.slug} day {busiest['day']}: {busiest['n']:,} calls")  # type: ignore[attr-defined]
        return sorted(samples)[1]

    tenant = Tenant.objects.filter(slug="bench-day").first()
    if tenant is None or Call.objects.filter(tenant=tenant).count() < 30_000:
        call_command(
            "seed_demo",
            tenant="bench-day",
            calls=30_000,
            days=1,
            seed=7,
            timezone="UTC",
            verbosity=0,
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        tenant = Tenant.objects.get(slug="bench-day")
    start = Call.objects.filter(tenant=tenant).order_by("start_time").first().start_time
    day = local_date(start, tenant.zone)
    count = Call.objects.filter(tenant=tenant, start_time__date=day).count()
    samples = []
    for _ in range(3):
        began = time.perf_counter()
        rollups.roll_day(tenant_id=tenant.pk, day=day)
        samples.append(time.perf_counter() - began)
    print(f"busiest bench-day day {day}: {count:,} calls")
    return sorted(samples)[1]


def start_server(name: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: production's HTTPS redirect would answer every request 301.
        "SECURE_SSL_REDIRECT": "0",
        "READ_API_RATE": "off",
        "LOG_LEVEL": "WARNING",
        "ANALYTICS_USE_ROLLUPS": "1" if name == "rollups" else "0",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/schema/")
            connection.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"gunicorn on port {port} did not start")


def requests_for(days: int, tenant: object) -> list[tuple[str, dict[str, str]]]:
    from django.utils import timezone

    now = timezone.now()
    today = now.astimezone(tenant.zone).date()  # type: ignore[attr-defined]
    after = (now - timedelta(days=days)).isoformat()
    first = (today - timedelta(days=days - 1)).isoformat()
    platform = {"started_after": after, "started_before": now.isoformat()}
    sales = {"startDate": first, "endDate": today.isoformat()}
    result = []
    if days <= 120:
        result.append(("/v2/analytics/", {"from_date": after, "to_date": now.isoformat()}))
    result += [
        ("/api/v1/analytics/summary", platform),
        ("/api/v1/analytics/call-volume", {**platform, "interval": "day"}),
        ("/api/v1/analytics/workflow-stats", platform),
        ("/api/v1/analytics/provider-latency", platform),
        ("/api/v1/analytics/errors", platform),
        ("/api/v1/analytics/active-calls", {}),
        (
            "/api/v1/analytics/overview",
            {**sales, "granularity": "week", "compareWith": "previous_period"},
        ),
        ("/api/v1/analytics/funnel", sales),
        ("/api/v1/analytics/activity", {**sales, "limit": "20"}),
    ]
    if days <= 7:
        result.append(("/api/v1/analytics/call-volume", {**platform, "interval": "hour"}))
    return result


def time_requests(
    port: int, key: str, path: str, params: dict[str, str], repeat: int
) -> list[float]:
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
        if response.status != 200:
            raise SystemExit(f"{url} -> {response.status}: {body[:300]!r}")
        if i:  # the first request warms the worker
            samples.append(elapsed * 1000)
    json.loads(body)
    return samples


DASHBOARD_RANGES = ("24h", "7d", "30d", "90d", "365 days (custom)")


Figures = dict[str, float]


def dashboard_times(tenant: object, repeat: int) -> list[tuple[str, Figures, Figures]]:
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
        today = now.astimezone(tenant.zone).date()  # type: ignore[attr-defined]
        if name.endswith("(custom)"):
            first = today - timedelta(days=364)
            window = custom_window(first, today, tenant.zone)  # type: ignore[attr-defined]
            params = {"from_date": first.isoformat(), "to_date": today.isoformat()}
        else:
            window = preset_window(name, now)
            params = {"range": name}
        scope = Scope(tenant=tenant, window=window)  # type: ignore[arg-type]
        params["tenant"] = str(tenant.pk)  # type: ignore[attr-defined]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per rollup cell")
    parser.add_argument(
        "--raw-repeat",
        type=int,
        default=5,
        help="timed requests per raw cell (0: rollups only, as for the 10,000,000-call run)",
    )
    parser.add_argument(
        "--skip-rebuild", action="store_true", help="keep the rollups already built"
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

    setup_django(bench_database_url())
    ensure_database()
    print_machine_info("analytics: rollups against raw rows")
    tenant = ensure_loaded(calls=args.calls, transcripts=not args.without_transcripts)
    from calls.keys import create_api_key
    from calls.models import Call

    calls = Call.objects.filter(tenant=tenant).count()
    print(f"data: {calls:,} calls in tenant {tenant.slug!r} ({tenant.timezone})\n")

    if not args.skip_rebuild:
        seconds, days = rebuild(tenant, args.jobs)
        per_million = seconds / (calls / 1_000_000)
        print(
            f"full rebuild ({args.jobs} processes): {days} days in {seconds:.1f} s "
            f"({seconds / days * 1000:.0f} ms/day; {per_million:.1f} s per million calls)"
        )
    print("rollup tables (all tenants), compacted:")
    total = 0
    for name, rows, size in rollup_sizes():
        total += size
        print(f"  {name:32} {rows:>10,} rows {size / 2**20:>8.1f} MiB")
    print(f"  per million calls: {total / 2**20 / (calls / 1_000_000):.1f} MiB\n")
    print(
        f"rolling one tenant-day of 30,000+ calls: {busy_day(tenant) * 1000:.0f} ms (median of 3)\n"
    )

    _, key = create_api_key(tenant=tenant, name="bench")
    servers = {
        name: start_server(name, port)
        for name, port in PORTS.items()
        if name == "rollups" or args.raw_repeat
    }
    try:
        print(
            f"{'endpoint':52} {'days':>4} {'rollup p50':>10} {'p95':>7} "
            f"{'raw p50':>8} {'p95':>7} {'raw/rollup':>10}"
        )
        for days in WINDOWS:
            for path, params in requests_for(days, tenant):
                rolled = percentiles(
                    time_requests(PORTS["rollups"], key, path, params, args.repeat)
                )
                label = path.replace("/api/v1/analytics/", "") + (
                    f" ({params['interval']})" if "interval" in params else ""
                )
                if args.raw_repeat:
                    raw = percentiles(
                        time_requests(PORTS["raw"], key, path, params, args.raw_repeat)
                    )
                    versus = (
                        f"{raw['p50']:>8.1f} {raw['p95']:>7.1f} {raw['p95'] / rolled['p95']:>9.1f}x"
                    )
                else:
                    versus = f"{'-':>8} {'-':>7} {'-':>10}"
                print(
                    f"{label:52} {days:>4} {rolled['p50']:>10.1f} {rolled['p95']:>7.1f} {versus}",
                    flush=True,
                )
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    print("\nadmin dashboard, server side with rollups, ms (build alone; whole page rendered):")
    for name, build, page in dashboard_times(tenant, repeat=args.repeat):
        print(
            f"  {name:18} build p50 {build['p50']:6.1f} p95 {build['p95']:6.1f}   "
            f"page p50 {page['p50']:6.1f} p95 {page['p95']:6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
