"""Ingestion benchmark: calls per second through the API and through ``seed_demo``.

    .venv/bin/python bench/ingest.py                      # both parts, the full sizes
    .venv/bin/python bench/ingest.py --seed-calls 100000  # a quicker seed_demo part
    .venv/bin/python bench/ingest.py --skip-seed          # only the API part

(a) API: starts gunicorn (``--workers``, DEBUG off) against the benchmark database and posts
``--calls`` realistic call documents (10 transcript turns, 6 latency samples, 3 variables,
1 action each, an agent and a workflow; a share ``--lead-share``, default none, also carries a
lead object) in batches of ``--batch`` to ``POST /api/v1/calls`` from ``--clients`` concurrent
connections, into a tenant ("bench-ingest") emptied first. Then posts the same documents again
(the "unchanged" path).
Bar: at least 1,000 calls/s.

(b) seed_demo: writes ``--seed-calls`` demo calls with all their children into a tenant
("bench-seed") emptied first and removed afterwards (``--keep`` keeps it).
Bar: 1,000,000 calls in under 15 minutes.

(c) platform receiver: ``--deliveries`` signed deliveries per platform, one per request, through
``POST /api/v1/webhooks/<platform>/<token>`` (same gunicorn setup) into a tenant
("bench-platform") emptied first; each a distinct call, from the platform's example payload
(``bench/payloads/``), signed the platform's way: Vapi (its HMAC credential), Retell, ElevenLabs,
Bland and Twilio (form fields, signed over the URL). Then the same work in-process, split into
verify, map and store, to show where the time goes.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import http.client
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_database_url,
    drop_tenant,
    ensure_database,
    free_port,
    make_documents,
    percentiles,
    print_machine_info,
    setup_django,
    start_gunicorn,
    stop_server,
    table_sizes,
)

API_TENANT = "bench-ingest"
PLATFORM_TENANT = "bench-platform"
PAYLOADS = Path(__file__).resolve().parent / "payloads"
SEED_TENANT = "bench-seed"
API_BAR_CALLS_PER_S = 1000.0
SEED_BAR_SECONDS_PER_MILLION = 15 * 60


# --- Server ---------------------------------------------------------------------------------


def post_batches(
    port: int, key: str, bodies: list[bytes], clients: int
) -> tuple[float, list[float], dict[str, int]]:
    """Posts every body once over ``clients`` keep-alive connections. Returns the wall time,
    per-request latencies (ms) and summed outcome counts."""
    queue = list(enumerate(bodies))
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            try:
                _, body = queue.pop()
            except IndexError:
                break
            started = time.perf_counter()
            conn.request("POST", "/api/v1/calls", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status not in (200, 201):
                raise RuntimeError(f"HTTP {response.status}: {payload[:500]!r}")
            result = json.loads(payload)
            with lock:
                for name in totals:
                    totals[name] += result[name]
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return time.perf_counter() - started, latencies, totals


# --- Tenants --------------------------------------------------------------------------------


def print_sizes(title: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"== {title} ==")
    for table, rows, size in table_sizes():
        print(f"{table:32} {rows:>12,} rows  {size:>10}")
    print()


# --- Main -----------------------------------------------------------------------------------


def bench_api(args: argparse.Namespace) -> dict[str, Any]:
    from calls.keys import create_api_key
    from calls.models import Call, Tenant

    drop_tenant(API_TENANT)
    tenant = Tenant.objects.create(name="Bench ingest", slug=API_TENANT, timezone="Europe/Berlin")
    _, key = create_api_key(tenant=tenant, name="bench")

    print(f"building {args.calls:,} documents …", file=sys.stderr)
    documents = make_documents(args.calls, lead_share=args.lead_share)
    bodies = [
        json.dumps({"calls": documents[i : i + args.batch]}).encode()
        for i in range(0, len(documents), args.batch)
    ]
    warmup = json.dumps({"calls": make_documents(20, seed=99)}).encode()
    size_mb = sum(len(b) for b in bodies) / 1e6

    port = args.port or free_port()
    server = start_gunicorn(port, workers=args.workers)
    try:
        post_batches(port, key, [warmup] * args.workers, args.workers)
        print(f"posting {len(bodies)} batches of {args.batch} …", file=sys.stderr)
        seconds, latencies, totals = post_batches(port, key, bodies, args.clients)
        print("posting the same batches again …", file=sys.stderr)
        re_seconds, re_latencies, re_totals = post_batches(port, key, bodies, args.clients)
    finally:
        stop_server(server)

    stored = Call.objects.filter(tenant=tenant).count()
    rate = args.calls / seconds
    result = {
        "calls": args.calls,
        "seconds": seconds,
        "rate": rate,
        "resend_rate": args.calls / re_seconds,
        "ok": rate >= API_BAR_CALLS_PER_S,
    }
    lat = percentiles(latencies)
    re_lat = percentiles(re_latencies)
    print("== (a) POST /api/v1/calls ==")
    print(
        f"workers {args.workers} (gunicorn sync), clients {args.clients}, batch {args.batch}, "
        f"{args.calls:,} documents ({size_mb:,.1f} MB JSON; 10 turns, 6 latencies, 3 variables, "
        f"1 action each; {args.lead_share:.0%} with a lead object)"
    )
    print(
        f"new calls:  {seconds:8.1f} s  {rate:8,.0f} calls/s   "
        f"batch p50 {lat['p50']:,.0f} ms  p95 {lat['p95']:,.0f} ms   {totals}"
    )
    print(
        f"resend:     {re_seconds:8.1f} s  {args.calls / re_seconds:8,.0f} calls/s   "
        f"batch p50 {re_lat['p50']:,.0f} ms  p95 {re_lat['p95']:,.0f} ms   {re_totals}"
    )
    print(f"stored:     {stored:,} calls in tenant {API_TENANT}")
    print(
        f"bar:        >= {API_BAR_CALLS_PER_S:,.0f} calls/s  → {'PASS' if result['ok'] else 'FAIL'}"
    )
    print()
    return result


def bench_seed(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from calls.models import Tenant

    drop_tenant(SEED_TENANT)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"seed_demo: {args.seed_calls:,} calls …", file=sys.stderr)
    started = time.perf_counter()
    call_command(
        "seed_demo",
        tenant=SEED_TENANT,
        calls=args.seed_calls,
        days=365,
        seed=args.seed,
        timezone="Europe/Berlin",
        verbosity=1,
    )
    seconds = time.perf_counter() - started
    tenant = Tenant.objects.get(slug=SEED_TENANT)
    with connection.cursor() as cursor:
        counts = {}
        for label, sql in (
            ("calls", "SELECT count(*) FROM calls_call WHERE tenant_id = %s"),
            ("latency samples", "SELECT count(*) FROM calls_latencysample WHERE tenant_id = %s"),
            ("events", "SELECT count(*) FROM calls_activityevent WHERE tenant_id = %s"),
            (
                "transcript turns",
                "SELECT count(*) FROM calls_transcriptturn t JOIN calls_call c "
                "ON c.id = t.call_id WHERE c.tenant_id = %s",
            ),
        ):
            cursor.execute(sql, [tenant.pk])
            counts[label] = cursor.fetchone()[0]
    rate = args.seed_calls / seconds
    projected = 1_000_000 / rate
    ok = projected < SEED_BAR_SECONDS_PER_MILLION
    print("== (b) seed_demo ==")
    print(
        f"{args.seed_calls:,} calls in {seconds:,.1f} s = {rate:,.0f} calls/s "
        f"(1,000,000 calls ≈ {projected / 60:,.1f} min)"
    )
    print("rows:       " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"bar:        1,000,000 calls < 15 min → {'PASS' if ok else 'FAIL'}")
    print_sizes("data size after seed_demo (calls_* tables, all tenants)")
    if not args.keep:
        print(f"removing tenant {SEED_TENANT} …", file=sys.stderr)
        drop_tenant(SEED_TENANT)
    return {"calls": args.seed_calls, "seconds": seconds, "rate": rate, "ok": ok}


# --- Platform receiver ------------------------------------------------------------------------


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _vapi(secret: str, body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"x-timestamp": stamp, "x-signature": _hmac_hex(secret, f"{stamp}.".encode() + body)}


def _retell(secret: str, body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"x-retell-signature": f"v={stamp},d={_hmac_hex(secret, body + stamp.encode())}"}


def _elevenlabs(secret: str, body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "elevenlabs-signature": f"t={stamp},v0={_hmac_hex(secret, f'{stamp}.'.encode() + body)}"
    }


def _bland(secret: str, body: bytes, url: str) -> dict[str, str]:
    return {"x-webhook-signature": _hmac_hex(secret, body)}


def _twilio(secret: str, body: bytes, url: str) -> dict[str, str]:
    from calls.platforms.twilio import compute_signature

    fields = parse_qsl(body.decode(), keep_blank_values=True)
    return {
        "x-twilio-signature": compute_signature(secret, url, fields),
        "content-type": "application/x-www-form-urlencoded",
    }


def _set_path(payload: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    result = copy.deepcopy(payload)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return result


@dataclass(frozen=True)
class PlatformCase:
    """How the benchmark makes a platform's deliveries: its example payload, where the call id
    is in it, how a delivery is signed, the connection's credential scheme, and whether the body
    is form fields (Twilio) rather than JSON."""

    payload: str
    call_id_at: tuple[str, ...]
    sign: Callable[[str, bytes, str], dict[str, str]]
    scheme: str = ""
    form: bool = False


PLATFORM_CASES: dict[str, PlatformCase] = {
    "vapi": PlatformCase("vapi-end-of-call-report.json", ("message", "call", "id"), _vapi, "hmac"),
    "retell": PlatformCase("retell-call_ended.json", ("call", "call_id"), _retell),
    "elevenlabs": PlatformCase(
        "elevenlabs-post_call_transcription.json", ("data", "conversation_id"), _elevenlabs
    ),
    "bland": PlatformCase("bland-post_call.json", ("call_id",), _bland),
    "twilio": PlatformCase(
        "twilio-status_callback-completed.json", ("CallSid",), _twilio, form=True
    ),
}


def _signed(
    case: PlatformCase, payload: dict[str, Any], secret: str, call_id: str, url: str
) -> tuple[bytes, dict[str, str]]:
    data = _set_path(payload, case.call_id_at, call_id)
    body = urlencode(data).encode() if case.form else json.dumps(data).encode()
    return body, case.sign(secret, body, url)


def post_deliveries(
    port: int, requests: list[tuple[str, bytes, dict[str, str]]], clients: int
) -> tuple[float, list[float], dict[str, int]]:
    """Posts every ``(path, body, headers)`` once over ``clients`` keep-alive connections."""
    queue = list(requests)
    totals: dict[str, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            try:
                path, body, headers = queue.pop()
            except IndexError:
                break
            started = time.perf_counter()
            lowered = {name.lower(): value for name, value in headers.items()}
            sent = {"content-type": "application/json", **lowered}
            conn.request("POST", path, body=body, headers=sent)
            response = conn.getresponse()
            payload = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
            with lock:
                outcome = json.loads(payload)["status"]
                totals[outcome] = totals.get(outcome, 0) + 1
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return time.perf_counter() - started, latencies, totals


def _breakdown(
    connection: Any, cases: list[tuple[bytes, dict[str, str]]], url: str
) -> dict[str, float]:
    """Mean milliseconds per delivery of each step of ``receive_delivery``, in-process."""
    from django.utils import timezone

    from calls.platform_connections import credentials
    from calls.platform_ingest import apply_event, map_payload
    from calls.platforms import PLATFORMS, Delivery

    module = PLATFORMS[connection.platform]
    spent = {"credentials": 0.0, "verify": 0.0, "decode+map": 0.0, "store+upsert": 0.0}
    for body, headers in cases:
        now = timezone.now()
        delivery = Delivery(body=body, headers=headers, url=url)
        t0 = time.perf_counter()
        creds = credentials(connection, now=now)
        t1 = time.perf_counter()
        module.verify(delivery, creds, now)
        t2 = time.perf_counter()
        event = map_payload(module, module.decode(delivery))
        t3 = time.perf_counter()
        apply_event(
            tenant=connection.tenant, platform=connection.platform, event=event, received_at=now
        )
        t4 = time.perf_counter()
        for name, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[name] += seconds
    return {name: total * 1000 / len(cases) for name, total in spent.items()}


def bench_platforms(args: argparse.Namespace) -> dict[str, Any]:
    from calls.models import Tenant
    from calls.platform_connections import create_connection, webhook_path

    drop_tenant(PLATFORM_TENANT)
    tenant = Tenant.objects.create(name="Bench platforms", slug=PLATFORM_TENANT)
    secret = secrets.token_urlsafe(32)
    port = args.port or free_port()
    server = start_gunicorn(port, workers=args.workers)
    results: dict[str, Any] = {}
    try:
        print("== (c) POST /api/v1/webhooks/<platform>/<token> ==")
        print(
            f"workers {args.workers} (gunicorn sync), clients {args.clients}, one delivery per "
            f"request, {args.deliveries:,} deliveries per platform, each a new call"
        )
        for name, case in PLATFORM_CASES.items():
            payload = json.loads((PAYLOADS / case.payload).read_text())
            connection = create_connection(
                tenant=tenant, platform=name, secret=secret, scheme=case.scheme
            ).connection
            path = webhook_path(connection)
            # The URL the platform posted to, as the receiver sees it (Twilio signs it).
            url = f"http://127.0.0.1:{port}{path}"

            def request(index: int, kind: str) -> tuple[bytes, dict[str, str]]:
                call_id = f"bench-{name}-{kind}-{index}"  # noqa: B023
                return _signed(case, payload, secret, call_id, url)  # noqa: B023

            warm = [(path, *request(i, "warm")) for i in range(args.workers * 2)]
            post_deliveries(port, warm, args.workers)
            signed = [(path, *request(i, "http")) for i in range(args.deliveries)]
            body_bytes = len(signed[0][1])
            seconds, latencies, totals = post_deliveries(port, signed, args.clients)
            resent, re_latencies, re_totals = post_deliveries(port, signed, args.clients)
            lat, re_lat = percentiles(latencies), percentiles(re_latencies)
            steps = _breakdown(connection, [request(i, "proc") for i in range(200)], url)
            rate = args.deliveries / seconds
            results[name] = {"rate": rate, "resend_rate": args.deliveries / resent}
            print(
                f"{name:11} {rate:7,.0f} deliveries/s  p50 {lat['p50']:5.1f} ms  "
                f"p95 {lat['p95']:5.1f} ms  ({body_bytes:,} B body)  {totals}"
            )
            print(
                f"{'  resend':11} {args.deliveries / resent:7,.0f} deliveries/s  "
                f"p50 {re_lat['p50']:5.1f} ms  p95 {re_lat['p95']:5.1f} ms  {re_totals}"
            )
            print(
                "  in-process ms/delivery: "
                + ", ".join(f"{step} {ms:.2f}" for step, ms in steps.items())
            )
    finally:
        stop_server(server)
    print()
    return {"ok": True, "platforms": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="API documents (20,000).")
    parser.add_argument("--batch", type=int, default=500, help="Documents per request (500).")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2).")
    parser.add_argument("--clients", type=int, default=0, help="Concurrent clients (= workers).")
    parser.add_argument(
        "--lead-share", type=float, default=0.0, help="Share of documents with a lead (0)."
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed-calls", type=int, default=1_000_000, help="seed_demo calls (1M).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="Keep the seed_demo tenant.")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument(
        "--deliveries", type=int, default=2000, help="Platform deliveries per platform (2,000)."
    )
    parser.add_argument("--skip-platforms", action="store_true")
    args = parser.parse_args()
    args.clients = args.clients or args.workers

    # The server runs with DEBUG off, where platform secrets need a configured key.
    from cryptography.fernet import Fernet

    os.environ.setdefault("CALLSCOPE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    setup_django(bench_database_url())
    ensure_database()
    print_machine_info("ingestion benchmark")

    results = {}
    if not args.skip_api:
        results["api"] = bench_api(args)
    if not args.skip_platforms:
        results["platforms"] = bench_platforms(args)
    if not args.skip_seed:
        results["seed"] = bench_seed(args)
    if "api" in results:
        print_sizes("data size after the API run (calls_* tables, all tenants)")
    if not all(r["ok"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
