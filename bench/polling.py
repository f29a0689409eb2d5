"""Polling that finds nothing new: requests/s of a ``304`` next to a full answer.

::

    .venv/bin/python bench/polling.py                      # 1,000,000 calls (the bench tenant)
    .venv/bin/python bench/polling.py --calls 20000 --tenant bench-polling --seconds 5

1. Loads the benchmark tenant (``ensure_loaded``; ``--calls`` over ``--days``) and makes an API
   key for it.
2. Starts gunicorn (one sync worker, ``DEBUG`` off, ``READ_API_ETAGS=1``, the read throttle
   off) on the benchmark database, with ``REDIS_URL`` as the shared cache when it is set (the
   production layout), else the worker's local-memory cache (one process, so its write
   generation is still the only one).
3. For ``--seconds`` each, from one keep-alive connection, asks
   ``GET /api/v1/analytics/summary?period=24h``: without ``If-None-Match`` (full answers), then
   with the last ``ETag`` (``304``; an answer whose tag has expired, because a call left the
   window or an hour edge passed, is a full answer that renews the tag, counted apart).
4. For the same time, asks ``GET /favicon.ico``: a redirect through the same server, middleware
   and client, with no key, cache or database: the floor under any answer of this layout, and
   so the most a ``304`` could gain on a full answer here (full answer time / floor time).
5. Prints requests/s and latency of each, the ratio of the first two (bar: the ``304`` at least
   10 times cheaper) and the ceiling the floor sets, and the bytes of a 30-day hourly
   ``call-volume`` answer, plain and gzipped.

Nothing is written to the tenant while it runs, so the tag changes only with the clock.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import subprocess
import sys
import time
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
    start_gunicorn,
    stop_server,
)

SUMMARY = "/api/v1/analytics/summary?period=24h"
FLOOR = "/favicon.ico"
VOLUME = "/api/v1/analytics/call-volume?period=30d&interval=hour"
BAR = 10.0


def start_server(port: int) -> subprocess.Popen[bytes]:
    # Tags on whether or not there is a shared cache; no read throttle to count the polls.
    return start_gunicorn(port, READ_API_RATE="off", READ_API_ETAGS="1")


def get(
    connection: http.client.HTTPConnection, url: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes, float]:
    began = time.perf_counter()
    connection.request("GET", url, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body, elapsed


def measure(port: int, key: str, seconds: float, *, conditional: bool) -> dict[str, Any]:
    """Requests of ``SUMMARY`` for ``seconds``: full answers, or ``304``s with the last tag."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    auth = {"Authorization": f"Bearer {key}"}
    status, headers, body, _ = get(connection, SUMMARY, auth)  # warms the worker
    if status != 200 or "etag" not in headers:
        raise SystemExit(f"{SUMMARY} -> {status} {headers}: {body[:300]!r}")
    tag = headers["etag"]
    samples: list[float] = []
    renewed = 0
    ends = time.perf_counter() + seconds
    while time.perf_counter() < ends:
        sent = {**auth, "If-None-Match": tag} if conditional else auth
        status, headers, body, elapsed = get(connection, SUMMARY, sent)
        if status == 304 and conditional:
            samples.append(elapsed)
        elif status == 200:
            if conditional:
                renewed += 1  # the tag expired with the clock: a full answer renews it
                tag = headers["etag"]
            else:
                samples.append(elapsed)
        else:
            raise SystemExit(f"{SUMMARY} -> {status}: {body[:300]!r}")
    total = sum(samples) / 1000
    return {
        "requests": len(samples),
        "per_second": len(samples) / total if total else 0.0,
        "latency": percentiles(samples),
        "renewed": renewed,
    }


def floor(port: int, seconds: float) -> dict[str, Any]:
    """Requests of ``FLOOR`` for ``seconds``: what a request costs this layout before any view
    work (the server, the middleware stack, the client)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    samples: list[float] = []
    ends = time.perf_counter() + seconds
    while time.perf_counter() < ends:
        status, _, body, elapsed = get(connection, FLOOR, {})
        if status not in (301, 302):
            raise SystemExit(f"{FLOOR} -> {status}: {body[:300]!r}")
        samples.append(elapsed)
    total = sum(samples) / 1000
    return {
        "requests": len(samples),
        "per_second": len(samples) / total if total else 0.0,
        "latency": percentiles(samples),
    }


def sizes(port: int, key: str) -> tuple[int, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    auth = {"Authorization": f"Bearer {key}"}
    _, _, plain, _ = get(connection, VOLUME, auth)
    _, headers, packed, _ = get(connection, VOLUME, {**auth, "Accept-Encoding": "gzip"})
    if headers.get("content-encoding") != "gzip" or gzip.decompress(packed)[:20] != plain[:20]:
        raise SystemExit(f"{VOLUME} was not compressed: {headers}")
    return len(plain), len(packed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()

    setup_django(bench_database_url())
    ensure_database()
    print_machine_info("polling: 304 against a full answer")
    tenant = ensure_loaded(calls=args.calls, days=args.days, tenant=args.tenant)

    from calls.keys import create_api_key
    from calls.models import Call

    key_row, key = create_api_key(tenant=tenant, name="bench polling")
    layout = "Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else "local memory, one worker"
    print(f"tenant {tenant.slug}: {Call.objects.filter(tenant=tenant).count():,} calls")
    print(f"gunicorn: 1 sync worker; write generation in {layout}")
    server = start_server(args.port)
    try:
        full = measure(args.port, key, args.seconds, conditional=False)
        cheap = measure(args.port, key, args.seconds, conditional=True)
        bottom = floor(args.port, args.seconds)
        plain, packed = sizes(args.port, key)
    finally:
        stop_server(server)
        key_row.delete()

    rows = (
        ("full answer (200)", full),
        ("current tag (304)", cheap),
        ("floor (a redirect)", bottom),
    )
    for name, figures in rows:
        latency = figures["latency"]
        print(
            f"{name:<18} {figures['per_second']:8.1f} req/s  p50 {latency['p50']:6.2f} ms  "
            f"p95 {latency['p95']:6.2f} ms  ({figures['requests']:,} requests)"
        )
    print(f"tags renewed by the clock while polling: {cheap['renewed']}")
    ratio = cheap["per_second"] / full["per_second"] if full["per_second"] else float("inf")
    verdict = "PASS" if ratio >= BAR else "FAIL"
    print(f"304 / full: {ratio:.1f}x (bar ≥ {BAR:g}x: {verdict})")
    ceiling = bottom["per_second"] / full["per_second"] if full["per_second"] else float("inf")
    print(
        f"floor / full: {ceiling:.1f}x: the most any answer that costs nothing could gain on "
        "a full one in this layout"
    )
    print(f"30-day hourly call-volume: {plain:,} bytes, {packed:,} gzip-compressed")
    if ratio < BAR:
        sys.exit(1)


if __name__ == "__main__":
    main()
