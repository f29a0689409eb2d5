"""Call read APIs on the benchmark tenant (1,000,000 calls over 365 days,
``bench.common.ensure_loaded``): p50/p95 latency over HTTP of

- ``GET /v2/calls`` first page (limit 20) for one agent, and the same page at offset 100,000,
  each cold (the first request after the tenant's cached totals were invalidated, so the exact
  ``total_records`` is counted) and warm (the total served from the cache, as for every further
  page of a script paging with ``offset``);
- ``GET /api/v1/calls`` first page with three filters (agent, status, start window);
- ``GET /api/v1/calls?q=…`` transcript search (first page);

and the throughput and peak memory of ``GET /api/v1/calls/export.csv`` over every call.

    .venv/bin/python bench/calls_read.py                 # everything
    .venv/bin/python bench/calls_read.py --repeat 50     # fewer timed requests per case
    .venv/bin/python bench/calls_read.py --skip-export

The reads go to gunicorn (``--workers`` sync workers, DEBUG off) started from the virtualenv on
the benchmark database, with the production cache: Redis at ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/3``, a database the tests do not use) as ``REDIS_URL``, so the workers
share the cached totals (``calls.counts``). A cold sample is taken right after this process
moves the tenant's count generation in that Redis, exactly as a committed write does. Each case
gets ``--warmup`` untimed requests, then ``--repeat`` timed ones (``--cold-repeat`` for the cold
samples). The export runs in a fresh process (spawned, not forked, through Django's test client)
so its peak RSS is the export's, not this script's. The per-tenant read throttle is switched off
(``READ_API_RATE=off``): it would otherwise cut the runs short. Exits non-zero when a bar is
missed; the first-page bar applies to the warm figure.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_database_url,
    ensure_database,
    ensure_loaded,
    percentiles,
    print_machine_info,
    setup_django,
    table_sizes,
)
from bench.ingest import free_port, start_server, stop_server

FIRST_PAGE_P95_MS = 50.0
DEEP_OFFSET_P95_MS = 500.0
SEARCH_P95_MS = 200.0
EXPORT_ROWS_PER_S = 20_000.0
EXPORT_PEAK_MB = 200.0
DEEP_OFFSET = 100_000
# A word a minority of the demo transcripts contain (the enterprise pricing conversation).
SEARCH_TERM = "pricing"
DEFAULT_BENCH_REDIS_URL = "redis://127.0.0.1:6379/3"


def _production_mode() -> None:
    # ``setup_django`` turns DEBUG on; production runs without it, and with it every query is
    # also formatted and logged.
    from django.conf import settings

    settings.DEBUG = False


@contextmanager
def _client(tenant: Any) -> Iterator[Any]:
    """A test client with a fresh API key of ``tenant``, deleted afterwards."""
    from django.test import Client

    from calls.keys import create_api_key

    key, raw = create_api_key(tenant=tenant, name="bench calls_read")
    try:
        yield Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    finally:
        key.delete()


def _busiest_agent(tenant: Any) -> tuple[str, int]:
    from django.db.models import Count

    from calls.models import Call

    row = (
        Call.objects.filter(tenant=tenant)
        .values("agent__model_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    assert row is not None, "the benchmark tenant has no calls"
    return row["agent__model_id"], row["n"]


class Server:
    """A gunicorn serving the benchmark database, and one API key of the tenant."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get_ms(self, path: str, params: dict[str, Any]) -> float:
        url = f"{path}?{urlencode(params)}"
        started = time.perf_counter()
        # Sync workers close the connection after each response; http.client reopens it.
        self.connection.request("GET", url, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status} {body[:300]!r}")
        return elapsed


def _time(
    server: Server, path: str, params: dict[str, Any], warmup: int, repeat: int
) -> list[float]:
    samples = []
    for n in range(warmup + repeat):
        elapsed = server.get_ms(path, params)
        if n >= warmup:
            samples.append(elapsed)
    return samples


def _time_cold(
    server: Server, tenant: Any, path: str, params: dict[str, Any], repeat: int
) -> list[float]:
    """Each request right after the tenant's cached totals were invalidated."""
    from calls import counts

    samples = []
    for _ in range(repeat):
        counts.bump_generation(tenant.pk)
        samples.append(server.get_ms(path, params))
    return samples


def _export_worker(database_url: str, tenant_slug: str, queue: Any) -> None:
    """Runs in a spawned process: streams the whole export, reports rows, seconds, peak RSS."""
    os.environ["READ_API_RATE"] = "off"
    setup_django(database_url)
    _production_mode()
    from calls.models import Tenant

    tenant = Tenant.objects.get(slug=tenant_slug)
    with _client(tenant) as client:
        baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        response = client.get("/api/v1/calls/export.csv")
        assert response.status_code == 200 and response.streaming
        lines = 0
        size = 0
        for block in response.streaming_content:
            lines += block.count(b"\n")
            size += len(block)
        seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "rows": lines - 1,
            "seconds": seconds,
            "bytes": size,
            "baseline_mb": baseline_kb / 1024,
            "peak_mb": peak_kb / 1024,
        }
    )


def _row(name: str, stats: dict[str, float], bar: float | None) -> bool:
    ok = bar is None or stats["p95"] <= bar
    verdict = f"(bar p95 ≤ {bar:.0f} ms: {'ok' if ok else 'MISSED'})" if bar is not None else ""
    print(f"{name:<52} p50 {stats['p50']:8.1f} ms   p95 {stats['p95']:8.1f} ms   {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per case")
    parser.add_argument(
        "--cold-repeat", type=int, default=20, help="timed cold requests per /v2/calls case"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()

    os.environ["READ_API_RATE"] = "off"
    # This process and the server share the cache: it invalidates, the server's workers read.
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_BENCH_REDIS_URL
    os.environ["REDIS_URL"] = redis_url
    os.environ.pop("CALL_COUNT_CACHE", None)
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"the benchmark needs Redis at {redis_url} (BENCH_REDIS_URL): {exc}"
        ) from None
    database_url = bench_database_url()
    setup_django(database_url)
    ensure_database()
    print_machine_info("call read APIs")
    tenant = ensure_loaded()
    _production_mode()
    for table, rows, size in table_sizes(["calls_call", "calls_transcriptturn"]):
        print(f"{table:>24}: {rows:>12,} rows  {size}")

    from calls.models import Call

    agent, agent_calls = _busiest_agent(tenant)
    newest = (
        Call.objects.filter(tenant=tenant)
        .order_by("-start_time")
        .values_list("start_time", flat=True)[0]
    )
    since = (newest.replace(microsecond=0) - timedelta(days=90)).isoformat()
    offset = min(DEEP_OFFSET, max(agent_calls - 20, 0))
    print(f"{'agent':>24}: {agent} ({agent_calls:,} calls)")
    print()

    # (name, path, params, bar, cached total)
    cases: list[tuple[str, str, dict[str, Any], float, bool]] = [
        (
            "/v2/calls first page (limit 20, one agent)",
            "/v2/calls",
            {"model_id": agent, "limit": 20},
            FIRST_PAGE_P95_MS,
            True,
        ),
        (
            f"/v2/calls offset {offset:,}",
            "/v2/calls",
            {"model_id": agent, "limit": 20, "offset": offset},
            DEEP_OFFSET_P95_MS,
            True,
        ),
        (
            "/api/v1/calls first page, 3 filters",
            "/api/v1/calls",
            {"agent": agent, "status": "completed", "started_after": since, "limit": 20},
            FIRST_PAGE_P95_MS,
            False,
        ),
        (
            f"/api/v1/calls?q={SEARCH_TERM} first page",
            "/api/v1/calls",
            {"q": SEARCH_TERM, "limit": 20},
            SEARCH_P95_MS,
            False,
        ),
    ]
    passed = True
    from calls import counts
    from calls.keys import create_api_key

    api_key, raw_key = create_api_key(tenant=tenant, name="bench calls_read")
    port = free_port()
    process = start_server(args.workers, port)
    try:
        server = Server(port, raw_key)
        print(
            f"server: gunicorn, {args.workers} sync workers, DEBUG off, cache {redis_url} "
            f"(CALL_COUNT_CACHE on)"
        )
        for name, path, params, bar, cached in cases:
            if cached:
                for _ in range(args.warmup):  # every worker's first requests: imports, connections
                    server.get_ms(path, params)
                cold = percentiles(_time_cold(server, tenant, path, params, args.cold_repeat))
                _row(f"{name}, cold", cold, None)
                warm = percentiles(_time(server, path, params, args.warmup, args.repeat))
                passed &= _row(f"{name}, warm", warm, bar)
            else:
                stats = percentiles(_time(server, path, params, args.warmup, args.repeat))
                passed &= _row(name, stats, bar)
        # The warm requests were answered from totals the workers stored in the shared Redis.
        generation = counts.cache.get(counts.generation_key(tenant.pk))
        stored = redis.Redis.from_url(redis_url).keys(f"*callcount:{tenant.pk}:{generation}:*")
        if not stored:
            raise SystemExit(f"the server stored no call totals in {redis_url}")
    finally:
        stop_server(process)
        api_key.delete()
    if offset < DEEP_OFFSET:
        print(f"(the busiest agent has {agent_calls:,} calls: deep page at offset {offset:,})")

    if not args.skip_export:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        worker = context.Process(target=_export_worker, args=(database_url, tenant.slug, queue))
        worker.start()
        result = queue.get()
        worker.join()
        rate = result["rows"] / result["seconds"]
        rate_ok = rate >= EXPORT_ROWS_PER_S
        memory_ok = result["peak_mb"] < EXPORT_PEAK_MB
        passed &= rate_ok and memory_ok
        print(
            f"{'/api/v1/calls/export.csv (every call)':<44} {result['rows']:,} rows in "
            f"{result['seconds']:.1f} s = {rate:,.0f} rows/s "
            f"(bar ≥ {EXPORT_ROWS_PER_S:,.0f}: {'ok' if rate_ok else 'MISSED'}); "
            f"{result['bytes'] / 1e6:,.0f} MB of CSV"
        )
        print(
            f"{'':<44} peak RSS {result['peak_mb']:.0f} MB (before the export "
            f"{result['baseline_mb']:.0f} MB; bar < {EXPORT_PEAK_MB:.0f} MB: "
            f"{'ok' if memory_ok else 'MISSED'})"
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
