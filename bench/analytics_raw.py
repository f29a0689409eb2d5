"""Analytics from raw rows: p50/p95 latency of every analytics endpoint over 7, 30, 120 and 365-day
windows, on the benchmark tenant (1,000,000 calls over 365 days, ``bench.common.ensure_loaded``).

    .venv/bin/python bench/analytics_raw.py               # every endpoint, every window
    .venv/bin/python bench/analytics_raw.py --repeat 3    # fewer timed runs per cell
    .venv/bin/python bench/analytics_raw.py --only summary,funnel --windows 7,30

Requests go through Django's test client in this process: the whole stack (middleware, API-key
authentication, parameter validation, queries, JSON rendering) without a network hop or a WSGI
server, with every fact computed from raw rows (``analytics.facts.raw_only``) even where rollups
exist. Windows end at the local midnight after the tenant's newest call, so every run reads the
same rows. Each cell is one untimed warm-up request, then ``--repeat`` timed ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_database_url,
    ensure_database,
    ensure_loaded,
    percentiles,
    print_machine_info,
    setup_django,
)

WINDOWS = (7, 30, 120, 365)
SYNTHFLOW_MAX_DAYS = 120


def endpoints(first: date, last: date, zone: Any) -> dict[str, tuple[str, dict[str, str]] | None]:
    """Each endpoint's path and parameters for the local days ``first`` .. ``last``."""
    from analytics.windows import date_window

    window = date_window(first, last, zone)
    instants = {"started_after": window.start.isoformat(), "started_before": window.end.isoformat()}
    dates = {"startDate": first.isoformat(), "endDate": last.isoformat()}
    days = (last - first).days + 1
    synthflow = (
        (
            "/v2/analytics/",
            {"from_date": instants["started_after"], "to_date": instants["started_before"]},
        )
        if days <= SYNTHFLOW_MAX_DAYS
        else None
    )
    platform = "/api/v1/analytics/"
    return {
        "v2/analytics": synthflow,
        "summary": (platform + "summary", instants),
        "call-volume (day)": (platform + "call-volume", {**instants, "interval": "day"}),
        "call-volume (hour)": (platform + "call-volume", {**instants, "interval": "hour"}),
        "workflow-stats": (platform + "workflow-stats", instants),
        "provider-latency": (platform + "provider-latency", instants),
        "errors": (platform + "errors", instants),
        "active-calls": (platform + "active-calls", instants),
        "overview (week, vs previous period)": (
            platform + "overview",
            {**dates, "granularity": "week", "compareWith": "previous_period"},
        ),
        "funnel": (platform + "funnel", dates),
        "activity": (platform + "activity", dates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per cell")
    parser.add_argument("--windows", default=",".join(map(str, WINDOWS)), help="days, comma list")
    parser.add_argument("--only", default="", help="endpoint names (comma list) to run")
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls the tenant must hold")
    parser.add_argument("--days", type=int, default=365, help="days the calls are spread over")
    args = parser.parse_args()

    setup_django(bench_database_url())
    ensure_database()
    tenant = ensure_loaded(tenant=args.tenant, calls=args.calls, days=args.days)

    from django.db.models import Max
    from django.test import Client

    from calls.keys import create_api_key
    from calls.models import Call

    print_machine_info("analytics from raw rows")
    newest = Call.objects.filter(tenant=tenant).aggregate(m=Max("start_time"))["m"]
    calls = Call.objects.filter(tenant=tenant).count()
    zone = tenant.zone
    last = newest.astimezone(zone).date()
    _, raw_key = create_api_key(tenant=tenant, name="bench analytics_raw")
    client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    print(f"tenant {tenant.slug!r}: {calls:,} calls, zone {zone.key}, windows end {last} (local)")
    print("client: Django test client, in process (no network hop, no WSGI server)")
    print(f"{args.repeat} timed requests per cell after one warm-up\n")

    only = {name.strip() for name in args.only.split(",") if name.strip()}
    windows = [int(w) for w in args.windows.split(",")]
    header = f"{'endpoint':<38}{'days':>6}{'p50 ms':>10}{'p95 ms':>10}{'bytes':>10}"
    print(header)
    print("-" * len(header))
    for days in windows:
        first = last - timedelta(days=days - 1)
        for name, target in endpoints(first, last, zone).items():
            if only and not any(name.startswith(o) for o in only):
                continue
            if target is None:
                print(f"{name:<38}{days:>6}{'n/a (over the 120-day limit)':>30}")
                continue
            path, params = target
            samples, size = run(client, path, params, args.repeat)
            stats = percentiles(samples)
            print(
                f"{name:<38}{days:>6}{stats['p50'] * 1000:>10.1f}{stats['p95'] * 1000:>10.1f}"
                f"{size:>10,}",
                flush=True,
            )
        print()


def run(client: Any, path: str, params: dict[str, str], repeat: int) -> tuple[list[float], int]:
    from analytics.facts import raw_only

    with raw_only():
        response = client.get(path, params)
        if response.status_code != 200:
            raise SystemExit(f"{path} {params}: {response.status_code} {response.content[:300]!r}")
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(path, params)
            samples.append(time.perf_counter() - started)
    return samples, len(response.content)


if __name__ == "__main__":
    main()
