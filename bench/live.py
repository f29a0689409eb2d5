"""Live streams under load: WebSocket subscribers while calls are ingested through the API.

Runs the documented production layout on PostgreSQL (``BENCH_DATABASE_URL``) and Redis
(``BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``): gunicorn serving the HTTP API
(``config.wsgi``) and daphne serving ``/ws/`` (``config.asgi``), both with ``REDIS_URL`` set.

1. Creates ``--tenants`` tenants (``live-bench-<n>``) with an API key each.
2. Opens ``--subscribers`` connections to ``/ws/v1/calls``, spread evenly over the tenants, and
   reads daphne's resident memory before and after (memory per connection).
3. Posts ``--rate`` calls per second for ``--seconds`` seconds to ``POST /api/v1/calls`` from a
   pool of threads, ``--batch`` calls of one tenant per request (default 1: one call per
   request, as a platform's webhook delivers them), tenants in turn, and notes when each
   response arrived.
4. Every subscriber notes when each ``call.started`` event arrived. Latency is the event's
   arrival minus its ingest response's (negative when the event beat the response: it is
   published when the write commits, before the response is sent). Lost messages are the events
   that should have reached a subscriber of the call's tenant and had not, ``--grace`` seconds
   after the last ingest.

Prints the machine, the parameters and the figures. Defaults are the full scale (500
subscribers over 50 tenants, 200 calls/s for 30 s); ``--subscribers 50 --tenants 5 --rate 20
--seconds 10`` is a quick check.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    bench_database_url,
    ensure_database,
    free_port,
    percentiles,
    print_machine_info,
    server_env,
    setup_django,
    start_gunicorn,
    start_server,
    stop_server,
)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def live_env(redis_url: str, subscribers: int) -> dict[str, str]:
    """What both servers run with: Redis as the cache and the channel layer, no read throttle,
    room for every subscriber."""
    return {
        "REDIS_URL": redis_url,
        "READ_API_RATE": "off",
        "LIVE_MAX_CONNECTIONS_PER_TENANT": str(subscribers),
    }


def start_gunicorn_for(
    redis_url: str, subscribers: int, workers: int, root: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn serving ``config.wsgi`` of the checkout at ``root`` (this one by default)."""
    port = free_port()
    process = start_gunicorn(port, workers=workers, root=root, **live_env(redis_url, subscribers))
    return process, port


def start_servers(
    redis_url: str, subscribers: int, workers: int
) -> tuple[subprocess.Popen[bytes], int, subprocess.Popen[bytes], int]:
    gunicorn, http_port = start_gunicorn_for(redis_url, subscribers, workers, ROOT)
    ws_port = free_port()
    daphne = start_server(
        ["daphne", "-b", "127.0.0.1", "-p", str(ws_port), "config.asgi:application"],
        ws_port,
        server_env(**live_env(redis_url, subscribers)),
    )
    return gunicorn, http_port, daphne, ws_port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def make_tenants(count: int) -> list[tuple[int, str]]:
    """``(tenant id, raw API key)`` of ``count`` benchmark tenants (a new key each run)."""
    from calls.keys import create_api_key
    from calls.models import Tenant

    tenants = []
    for n in range(count):
        tenant, _ = Tenant.objects.get_or_create(
            slug=f"live-bench-{n}", defaults={"name": f"Live bench {n}"}
        )
        tenants.append((tenant.pk, create_api_key(tenant=tenant, name="bench/live.py")[1]))
    return tenants


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # call_id -> monotonic time of the ingest response
        self.responses: dict[str, float] = {}
        # (subscriber, call_id) -> monotonic time of the event's arrival
        self.arrivals: dict[tuple[int, str], float] = {}
        self.ingest_errors = 0
        self.subscriber_errors: list[str] = []


async def subscribe(
    index: int, url: str, key: str, results: Results, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            first = json.loads(await ws.recv())
            if first.get("type") != "subscribed":
                results.subscriber_errors.append(f"{index}: {first}")
                return
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("type") == "call.started":
                    results.arrivals[(index, message["call"]["call_id"])] = now
    except Exception as exc:
        results.subscriber_errors.append(f"{index}: {exc!r}")


def ingest(port: int, key: str, call_ids: list[str], results: Results) -> None:
    """Posts the calls ``call_ids`` of the tenant of ``key`` in one request: one call as a
    document of its own, several as a batch."""
    started = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    documents = [
        {
            "call_id": call_id,
            "status": "in-progress",
            "start_time": started,
            "agent": {"model_id": "bench-agent", "name": "Bench"},
        }
        for call_id in call_ids
    ]
    body = json.dumps(documents[0] if len(documents) == 1 else {"calls": documents})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/calls",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        done = time.monotonic()
        with results.lock:
            if response.status in (200, 201):
                results.responses.update(dict.fromkeys(call_ids, done))
            else:
                results.ingest_errors += len(call_ids)
    except OSError:
        with results.lock:
            results.ingest_errors += len(call_ids)
    finally:
        connection.close()


API_PATH = "/api/v1/analytics/summary?period=24h"


def api_requests_per_second(port: int, key: str, args: argparse.Namespace) -> float:
    """Requests per second of ``API_PATH`` from ``--clients`` threads for ``--api-seconds``:
    the HTTP API's throughput with the live streams in place (compare with a checkout
    without them, same command)."""
    deadline = time.monotonic() + args.api_seconds
    done = [0] * args.clients

    def client(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            connection.request("GET", API_PATH, headers={"Authorization": f"Bearer {key}"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done[n] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


async def run(args: argparse.Namespace, tenants: list[tuple[int, str]]) -> dict[str, Any]:
    gunicorn, http_port, daphne, ws_port = start_servers(
        args.redis_url, args.subscribers, args.workers
    )
    results = Results()
    try:
        await asyncio.sleep(1.0)
        rss_before = rss_kib(daphne.pid)
        stop = asyncio.Event()
        subscriber_tenant = [tenants[i % len(tenants)] for i in range(args.subscribers)]
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        tasks = [
            asyncio.create_task(
                subscribe(
                    i,
                    f"ws://127.0.0.1:{ws_port}/ws/v1/calls",
                    subscriber_tenant[i][1],
                    results,
                    readies[i],
                    stop,
                )
            )
            for i in range(args.subscribers)
        ]
        deadline = time.monotonic() + 60
        while not all(r.is_set() for r in readies) and time.monotonic() < deadline:
            if results.subscriber_errors:
                break
            await asyncio.sleep(0.1)
        connected = sum(r.is_set() for r in readies)
        await asyncio.sleep(1.0)
        rss_after = rss_kib(daphne.pid)

        # Ingest at the rate, ``--batch`` calls of one tenant per request, tenants in turn, from
        # a pool of threads.
        total = int(args.rate * args.seconds)
        run_id = f"{int(time.time())}"
        calls = [
            (f"lb-{run_id}-{n:07d}", tenants[(n // args.batch) % len(tenants)])
            for n in range(total)
        ]
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=args.clients)
        started = time.monotonic()
        futures = []
        for n in range(0, total, args.batch):
            due = started + n / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            batch = calls[n : n + args.batch]
            key = batch[0][1][1]
            ids = [call_id for call_id, _ in batch]
            futures.append(loop.run_in_executor(pool, ingest, http_port, key, ids, results))
        await asyncio.gather(*futures)
        ingest_seconds = time.monotonic() - started
        await asyncio.sleep(args.grace)
        stop.set()
        await asyncio.gather(*tasks)
        pool.shutdown()
        api_rps = (
            await loop.run_in_executor(
                None, api_requests_per_second, http_port, tenants[0][1], args
            )
            if args.api_seconds
            else None
        )
    finally:
        stop_server(gunicorn)
        stop_server(daphne)

    # Who should have received what: every connected subscriber of the call's tenant.
    subscribers_of: dict[str, list[int]] = {}
    for i, (_tenant_id, key) in enumerate(subscriber_tenant):
        if readies[i].is_set():
            subscribers_of.setdefault(key, []).append(i)
    latencies_ms: list[float] = []
    expected = lost = 0
    for call_id, (_tenant_id, key) in calls:
        answered = results.responses.get(call_id)
        if answered is None:
            continue
        for i in subscribers_of.get(key, []):
            expected += 1
            arrived = results.arrivals.get((i, call_id))
            if arrived is None:
                lost += 1
            else:
                latencies_ms.append((arrived - answered) * 1000)
    return {
        "subscribers connected": f"{connected} of {args.subscribers}",
        "subscriber errors": results.subscriber_errors[:5],
        "calls ingested": f"{len(results.responses)} of {total} "
        f"({len(results.responses) / ingest_seconds:,.1f} calls/s achieved, "
        f"{results.ingest_errors} errors)",
        "events expected": expected,
        "events lost": lost,
        "latency ms (event arrival - ingest response)": {
            k: round(v, 1) for k, v in percentiles(latencies_ms).items()
        },
        "API requests/s (gunicorn in this layout, "
        f"GET {API_PATH}, {args.clients} clients, {args.api_seconds:g} s)": (
            f"{api_rps:,.1f}" if api_rps is not None else "not measured (--api-seconds 0)"
        ),
        "daphne memory": f"{rss_before / 1024:,.1f} MiB before, {rss_after / 1024:,.1f} MiB with "
        f"{connected} connections: {(rss_after - rss_before) / max(connected, 1):,.1f} KiB per "
        "connection",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="calls per second")
    parser.add_argument(
        "--batch", type=int, default=1, help="calls per request, all of one tenant (default 1)"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=32, help="ingesting threads")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for events")
    parser.add_argument(
        "--api-seconds", type=float, default=10.0, help="seconds of API reads (0: none)"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    )
    parser.add_argument(
        "--api-only",
        metavar="CHECKOUT",
        type=Path,
        help="only the API reads, against gunicorn serving the Callscope checkout at CHECKOUT "
        "(this one, or an earlier one without the live streams, to compare)",
    )
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be 1 or more")
    setup_django(bench_database_url())
    ensure_database()
    print_machine_info("live streams")
    if args.api_only is not None:
        tenants = make_tenants(1)
        gunicorn, port = start_gunicorn_for(
            args.redis_url, 1, args.workers, args.api_only.resolve()
        )
        try:
            rps = api_requests_per_second(port, tenants[0][1], args)
        finally:
            stop_server(gunicorn)
        print(
            f"API requests/s of {args.api_only.resolve()} (gunicorn {args.workers} workers, "
            f"GET {API_PATH}, {args.clients} clients, {args.api_seconds:g} s): {rps:,.1f}"
        )
        return
    print(
        f"parameters: {args.subscribers} subscribers over {args.tenants} tenants, "
        f"{args.rate:g} calls/s for {args.seconds:g} s in requests of {args.batch} "
        f"call{'s' if args.batch != 1 else ''}, gunicorn {args.workers} workers, "
        f"{args.clients} ingesting threads, Redis {args.redis_url}"
    )
    figures = asyncio.run(run(args, make_tenants(args.tenants)))
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
