"""Call read APIs on the benchmark tenant (1,000,000 calls over 365 days,
``bench.common.ensure_loaded``): p50/p95 latency over HTTP of

- ``GET /v2/calls`` first page (limit 20) for one agent, and the same page at offset 100,000,
  each cold (the first request after the tenant's cached totals were invalidated, so the exact
  ``total_records`` is counted) and warm (the total served from the cache, as for every further
  page of a script paging with ``offset``);
- ``GET /api/v1/calls`` first page with three filters (agent, status, start window);
- ``GET /api/v1/calls?q=…`` transcript search (first page);

and the throughput and peak memory of ``GET /api/v1/calls/export.csv`` over every call; and
the filter caps (``calls.api.filters``): ``GET /api/v1/calls`` first page with the worst allowed
filter combination (``MAX_VARIABLE_FILTERS`` variable names, each with ``MAX_VARIABLE_VALUES``
values, the most common of the data set, so the variable index ranges read are the largest
possible; then also every list filter at ``MAX_LIST_VALUES`` values and a start window; then
also an eight-term ``q``), and the same variable filters with one value each (fewer values
narrow less: the filters are applied smallest first and stop once no call is left).

    .venv/bin/python bench/calls_read.py                 # everything
    .venv/bin/python bench/calls_read.py --repeat 50     # fewer timed requests per case
    .venv/bin/python bench/calls_read.py --skip-export
    .venv/bin/python bench/calls_read.py --only-filter-caps  # just the filter-cap cases
    .venv/bin/python bench/calls_read.py --only-tenant-search  # just the tenant-search cases

The tenant-search cases (``--only-tenant-search``) load a second tenant (``OTHER_TENANT``,
``OTHER_CALLS`` calls whose every turn says ``OTHER_WORD``, a word no benchmark call says) and
time ``q=`` first pages of the benchmark tenant for a common, a mid-frequency, a rare and an
absent word, and for ``OTHER_WORD``: its requests, alternated with the absent word's, must cost
the same (p50 and p95 within ``OTHER_WORD_MAX_RATIO``), or the response time would tell the
benchmark tenant that another tenant's calls say it.

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
    free_port,
    percentiles,
    print_machine_info,
    setup_django,
    start_gunicorn,
    stop_server,
    table_sizes,
)

FIRST_PAGE_P95_MS = 50.0
DEEP_OFFSET_P95_MS = 500.0
SEARCH_P95_MS = 200.0
WORST_FILTERS_P95_MS = 500.0
EXPORT_ROWS_PER_S = 20_000.0
EXPORT_PEAK_MB = 200.0
DEEP_OFFSET = 100_000
# A word a minority of the demo transcripts contain (the enterprise pricing conversation).
SEARCH_TERM = "pricing"
DEFAULT_BENCH_REDIS_URL = "redis://127.0.0.1:6379/3"
# Tenant-first search (``--only-tenant-search``): words of the benchmark tenant's calls by how
# many say them ("headache" is the demo vocabulary's rarest kind of word: about 1.8% of calls),
# and a second tenant saying a word the benchmark tenant never does. No word of the demo
# vocabulary is rarer, so the rare case is two words seldom said in one call (about 0.06% of
# calls): each common, so every call of the newest ``SEARCH_WINDOW`` is checked for the page.
TENANT_SEARCH_P95_MS = 100.0
TENANT_SEARCH_WORDS = {
    "common": "order",
    "mid-frequency": "headache",
    "rare": "headache nora",
    "absent": "axolotl",
}
# Calls of the benchmark tenant, newest first, in which the rare case's matches are counted.
RARE_COUNT_CALLS = 20_000
OTHER_TENANT = "bench-other"
OTHER_WORD = "quokka"
OTHER_CALLS = 400
OTHER_TURNS = 8  # per call, each saying OTHER_WORD: OTHER_CALLS * OTHER_TURNS matching turns
OTHER_WORD_MAX_RATIO = 2.0


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


def _common_variables(tenant: Any) -> dict[str, list[str]]:
    """The tenant's variable names, most frequent first, each with its values (as a query string
    spells them), most frequent first."""
    import json

    from django.db.models import Count

    from calls.models import CollectedVariable

    rows = (
        CollectedVariable.objects.filter(call__tenant=tenant, value__isnull=False)
        .values("name", "value")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    totals: dict[str, int] = {}
    values: dict[str, list[str]] = {}
    for row in rows:
        value = row["value"]
        totals[row["name"]] = totals.get(row["name"], 0) + row["n"]
        values.setdefault(row["name"], []).append(
            value if isinstance(value, str) else json.dumps(value)
        )
    return {name: values[name] for name in sorted(totals, key=totals.__getitem__, reverse=True)}


def _ensure_other_tenant() -> Any:
    """The second tenant, loaded (once) with ``OTHER_CALLS`` calls through ingestion, each with
    ``OTHER_TURNS`` turns saying ``OTHER_WORD``."""
    from datetime import UTC, datetime

    from calls.models import Call, Tenant
    from calls.services import ingest_call_documents

    other, _ = Tenant.objects.get_or_create(
        slug=OTHER_TENANT, defaults={"name": "Bench other", "timezone": "UTC"}
    )
    have = Call.objects.filter(tenant=other).count()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(have, OTHER_CALLS, 100):
        docs = [
            {
                "call_id": f"other-{n}",
                "model_id": "other-agent",
                "status": "completed",
                "start_time": (start + timedelta(minutes=n)).isoformat(),
                "duration": 60,
                "transcript": [
                    {
                        "role": "bot" if turn % 2 == 0 else "human",
                        "text": f"Turn {turn}: the {OTHER_WORD} enclosure, {OTHER_WORD} food.",
                    }
                    for turn in range(OTHER_TURNS)
                ],
            }
            for n in range(first, min(first + 100, OTHER_CALLS))
        ]
        ingest_call_documents(tenant=other, documents=docs)
    return other


def _tenant_search_cases(tenant: Any) -> list[tuple[str, str, dict[str, Any], float | None, bool]]:
    """Loads the second tenant, prints how many turns of each tenant match each word, and
    returns the ``q=`` first-page cases (limit 20) of the benchmark tenant."""
    from calls.queries import _matching_turns

    other = _ensure_other_tenant()
    words = {**TENANT_SEARCH_WORDS, "other tenant's": OTHER_WORD}
    for label, word in words.items():
        if " " in word:
            print(f"{label + ' words':>24}: {word!r}, {_calls_saying(tenant, word)}")
            continue
        counts = [
            _matching_turns(word, tenant_id=t.pk).values("pk")[:100_001].count()
            for t in (tenant, other)
        ]
        print(
            f"{label + ' word':>24}: {word!r}, turns saying it: {counts[0]:,} in "
            f"{tenant.slug!r}, {counts[1]:,} in {other.slug!r} (counted up to 100,001)"
        )
        if (label == "absent" and any(counts)) or (word == OTHER_WORD and counts[0]):
            raise SystemExit(f"{word!r} must be absent from {tenant.slug!r}")
    if not _matching_turns(OTHER_WORD, tenant_id=other.pk).count() >= 3_000:
        raise SystemExit(f"{other.slug!r} should say {OTHER_WORD!r} in at least 3,000 turns")
    print()
    return [
        (
            f"/api/v1/calls?q={word} ({label}) first page",
            "/api/v1/calls",
            {"q": word, "limit": 20},
            TENANT_SEARCH_P95_MS,
            False,
        )
        for label, word in words.items()
    ]


def _calls_saying(tenant: Any, query: str) -> str:
    """How many of the tenant's ``RARE_COUNT_CALLS`` newest calls match ``query``, as text."""
    from calls.models import Call
    from calls.queries import plan_transcript_search

    newest = list(
        Call.objects.filter(tenant=tenant)
        .order_by("-start_time", "-id")
        .values_list("pk", flat=True)[:RARE_COUNT_CALLS]
    )
    search = plan_transcript_search(query).for_tenant(tenant.pk)
    matching = search.apply(Call.objects.filter(pk__in=newest)).count()
    return f"calls saying all of it: {matching:,} of the newest {len(newest):,}"


def _other_tenant_word_check(server: Server, warmup: int, repeat: int) -> bool:
    """Times ``q=OTHER_WORD`` and ``q=<absent word>`` alternately (so load and caches hit both
    alike) and checks they cost the same within ``OTHER_WORD_MAX_RATIO``."""
    absent = TENANT_SEARCH_WORDS["absent"]
    samples: dict[str, list[float]] = {OTHER_WORD: [], absent: []}
    for n in range(warmup + repeat):
        for word, timings in samples.items():
            elapsed = server.get_ms("/api/v1/calls", {"q": word, "limit": 20})
            if n >= warmup:
                timings.append(elapsed)
    stats = {word: percentiles(timings) for word, timings in samples.items()}
    ok = True
    for key in ("p50", "p95"):
        ratio = stats[OTHER_WORD][key] / stats[absent][key]
        ok &= ratio <= OTHER_WORD_MAX_RATIO
        verdict = "ok" if ratio <= OTHER_WORD_MAX_RATIO else "MISSED"
        print(
            f"q={OTHER_WORD} (another tenant's) vs q={absent} (nobody's), alternated: {key} "
            f"{stats[OTHER_WORD][key]:.1f} vs {stats[absent][key]:.1f} ms = {ratio:.2f}x "
            f"(bar ≤ {OTHER_WORD_MAX_RATIO:.0f}x: {verdict})"
        )
    return ok


def _filter_cap_cases(
    tenant: Any, agent: str, since: str
) -> list[tuple[str, str, dict[str, Any], float | None, bool]]:
    """The worst allowed filter combination of ``GET /api/v1/calls``, and the same variable
    filters with one value each."""
    from calls.api.filters import (
        MAX_LIST_VALUES,
        MAX_VARIABLE_FILTERS,
        MAX_VARIABLE_VALUES,
    )
    from calls.enums import CallStatus, CallType, Channel, Sentiment

    variables = list(_common_variables(tenant).items())[:MAX_VARIABLE_FILTERS]
    one_value = {f"var.{name}": values[0] for name, values in variables}
    worst_vars = {f"var.{name}": values[:MAX_VARIABLE_VALUES] for name, values in variables}

    def filled(real: list[str], prefix: str) -> str:
        return ",".join(
            (real + [f"{prefix}-{n}" for n in range(MAX_LIST_VALUES)])[:MAX_LIST_VALUES]
        )

    others = {
        "agent": filled([agent], "agent"),
        "workflow": filled([], "workflow"),
        "status": ",".join(CallStatus.values),
        "type": ",".join(CallType.values),
        "channel": ",".join(Channel.values),
        "sentiment": ",".join(Sentiment.values),
        "label": filled([], "label"),
        "end_reason": filled([], "reason"),
        "started_after": since,
        "duration_min": 0,
    }
    # As many terms as a search takes, words of the demo transcripts.
    search = {"q": "pricing plan team budget quarter order return track"}
    names = len(variables)
    values = sum(len(v) for v in worst_vars.values())
    return [
        (
            f"/api/v1/calls {names} var filters, 1 value each",
            "/api/v1/calls",
            {**one_value, "limit": 20},
            WORST_FILTERS_P95_MS,
            False,
        ),
        (
            f"/api/v1/calls worst: {names} vars/{values} values",
            "/api/v1/calls",
            {**worst_vars, "limit": 20},
            WORST_FILTERS_P95_MS,
            False,
        ),
        (
            "/api/v1/calls worst + every list filter at cap",
            "/api/v1/calls",
            {**worst_vars, **others, "limit": 20},
            WORST_FILTERS_P95_MS,
            False,
        ),
        (
            "/api/v1/calls worst + lists at cap + 8-term q",
            "/api/v1/calls",
            {**worst_vars, **others, **search, "limit": 20},
            WORST_FILTERS_P95_MS,
            False,
        ),
    ]


class Server:
    """A gunicorn serving the benchmark database, and one API key of the tenant."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get_ms(self, path: str, params: dict[str, Any]) -> float:
        url = f"{path}?{urlencode(params, doseq=True)}"
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
    parser.add_argument(
        "--only-filter-caps", action="store_true", help="only the filter-cap cases, no export"
    )
    parser.add_argument(
        "--only-tenant-search",
        action="store_true",
        help="only the tenant-search cases (q= of common, mid-frequency, rare, absent and another "
        "tenant's word)",
    )
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
    cases: list[tuple[str, str, dict[str, Any], float | None, bool]] = [
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
    if args.only_tenant_search:
        cases, args.skip_export = _tenant_search_cases(tenant), True
    else:
        filter_cap_cases = _filter_cap_cases(tenant, agent, since)
        if args.only_filter_caps:
            cases, args.skip_export = filter_cap_cases, True
        else:
            cases += filter_cap_cases + _tenant_search_cases(tenant)
    passed = True
    from calls import counts
    from calls.keys import create_api_key

    api_key, raw_key = create_api_key(tenant=tenant, name="bench calls_read")
    port = free_port()
    process = start_gunicorn(port, workers=args.workers)
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
        if args.only_tenant_search or not args.only_filter_caps:
            passed &= _other_tenant_word_check(server, args.warmup, args.repeat)
        # The warm requests were answered from totals the workers stored in the shared Redis.
        generation = counts.cache.get(counts.generation_key(tenant.pk))
        stored = redis.Redis.from_url(redis_url).keys(f"*callcount:{tenant.pk}:{generation}:*")
        if not stored and any(cached for *_, cached in cases):
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
