"""Conditional reads: every read endpoint answers ``ETag``/``304`` from the tenant's write
generation, its clock and the request, with ``Cache-Control`` and gzip; a ``304`` is never
served for an answer that would differ."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Tenant
from calls.services import ingest_call_documents
from config import cache_outage
from tests.analytics.conftest import call, error_log, event, utc
from tests.calls.factories import call_doc

# 10:30 UTC: a window ending now is half an hour from any hour edge.
NOW = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)

# Every GET read endpoint, with the max-age its clients are told to poll at.
READS: list[tuple[str, dict[str, str], int]] = [
    ("/v2/calls", {"model_id": "agent-1"}, 10),
    ("/v2/calls/c-1", {}, 10),
    ("/v2/analytics/", {}, 60),
    ("/api/v1/calls", {}, 10),
    ("/api/v1/calls/c-1", {}, 10),
    ("/api/v1/analytics/summary", {"period": "24h"}, 30),
    ("/api/v1/analytics/call-volume", {"period": "24h"}, 60),
    ("/api/v1/analytics/workflow-stats", {}, 60),
    ("/api/v1/analytics/provider-latency", {}, 60),
    ("/api/v1/analytics/errors", {}, 30),
    ("/api/v1/analytics/active-calls", {}, 10),
    ("/api/v1/analytics/overview", {}, 60),
    ("/api/v1/analytics/funnel", {}, 60),
    ("/api/v1/analytics/activity", {}, 30),
]
READ_IDS = [f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}" for path, query, _ in READS]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock(NOW)
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def etags(settings: Any) -> None:
    # The local-memory cache is shared by this one process, which is all a test serves.
    settings.READ_API_ETAGS = True


@pytest.fixture
def write(
    django_capture_on_commit_callbacks: Any,
) -> Callable[[Tenant, list[dict[str, Any]]], None]:
    """Ingests documents as the API does, running what waits for the commit (the bump)."""

    def ingest(tenant: Tenant, documents: list[dict[str, Any]]) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            ingest_call_documents(tenant=tenant, documents=documents)

    return ingest


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


@pytest.fixture
def calls(tenant: Tenant, clock: Clock, write: Any) -> None:
    """Calls of the last hours (one live, each with its errors and events), enough for answers
    over 1 KB on most endpoints."""
    documents = [
        call_doc(
            f"c-{i}",
            start_time=iso(NOW - timedelta(hours=i + 1, minutes=7)),
            end_time=iso(NOW - timedelta(hours=i + 1, minutes=5)),
            errors=[
                {
                    "timestamp": iso(NOW - timedelta(hours=i + 1, minutes=6)),
                    "service": "tts",
                    "level": "warning",
                    "message": f"Slow first byte {i}",
                    "details": {"ttfb_ms": 1900 + i},
                }
            ],
            lead={"lead_id": f"lead_{i:04d}", "phone_number": f"+49151000000{i:02d}"},
        )
        for i in range(1, 9)
    ]
    live = call_doc("c-live", status="in-progress", start_time=iso(NOW - timedelta(minutes=20)))
    live.pop("end_time")
    write(tenant, [*documents, live])


def get(client: APIClient, path: str, query: dict[str, str], **headers: str) -> Any:
    return client.get(
        path, query, **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    )


def answer(response: Any) -> Any:
    """An answer's data: its body without ``meta`` (the instants it was computed at)."""
    body = response.json()
    return {k: v for k, v in body.items() if k != "meta"} if isinstance(body, dict) else body


# --- Every read endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "query", "max_age"), READS, ids=READ_IDS)
def test_a_current_tag_is_answered_304_without_computing_the_answer(
    etags, calls, api_client, django_assert_max_num_queries, path, query, max_age
):
    first = get(api_client, path, query)
    assert first.status_code == 200, first.content
    tag = first["ETag"]
    assert tag.startswith('W/"')
    assert first["Cache-Control"] == f"private, max-age={max_age}"
    assert "Authorization" in first["Vary"]

    # The API key lookup only: no answer computed (the key's last use was stamped just now).
    with django_assert_max_num_queries(1):
        again = get(api_client, path, query, **{"If-None-Match": tag})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == tag
    assert again["Cache-Control"] == f"private, max-age={max_age}"
    assert "Authorization" in again["Vary"]


@pytest.mark.postgres
def test_a_304_costs_the_key_lookup_alone_not_the_read_limit_around_it(
    etags, calls, api_client, settings, monkeypatch
):
    from django.db import connection

    settings.API_READ_STATEMENT_TIMEOUT_MS = 5_000
    path, query = "/api/v1/analytics/summary", {"period": "24h"}
    tag = get(api_client, path, query)["ETag"]
    driver = type(connection.connection)
    sent: list[str] = []
    original = driver.execute

    def execute(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(driver, "execute", execute)
    assert get(api_client, path, query, **{"If-None-Match": tag}).status_code == 304
    assert not any("statement_timeout" in statement for statement in sent)
    # A full answer sets the limit and resets it.
    assert get(api_client, path, query).status_code == 200
    assert sum("statement_timeout" in statement for statement in sent) == 2


class CountingCache:
    """The cache, counting the calls made to it."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.cache, name)


def test_a_304_reads_the_cache_once_and_counts_nothing(etags, calls, api_client, monkeypatch):
    from django.core.cache import cache

    from calls import counts
    from config.api.throttling import TenantReadThrottle

    tag = get(api_client, *SUMMARY)["ETag"]
    counting = CountingCache(cache)
    monkeypatch.setattr(counts, "cache", counting)
    monkeypatch.setattr(TenantReadThrottle, "cache", counting)

    assert get(api_client, *SUMMARY, **{"If-None-Match": tag}).status_code == 304
    assert counting.calls == ["get"]


@pytest.mark.parametrize(("path", "query", "max_age"), READS, ids=READ_IDS)
def test_the_tag_changes_after_a_write(
    etags, calls, tenant, api_client, write, path, query, max_age
):
    tag = get(api_client, path, query)["ETag"]

    write(tenant, [call_doc("c-1", status="completed", duration=999)])
    after = get(api_client, path, query, **{"If-None-Match": tag})

    assert after.status_code == 200
    assert after["ETag"] != tag


@pytest.mark.parametrize(("path", "query", "max_age"), READS, ids=READ_IDS)
def test_another_tenants_tag_never_matches(
    etags, calls, tenant, other_tenant, api_client, other_api_client, write, path, query, max_age
):
    other_tenant.timezone = tenant.timezone  # the same answer shape, only the tenant differs
    other_tenant.save()
    write(other_tenant, [call_doc("c-1")])
    theirs = get(other_api_client, path, query)
    assert theirs.status_code == 200

    mine = get(api_client, path, query, **{"If-None-Match": theirs["ETag"]})

    assert mine.status_code == 200
    assert mine["ETag"] != theirs["ETag"]


@pytest.mark.parametrize(("path", "query", "max_age"), READS, ids=READ_IDS)
def test_json_answers_over_1_kb_are_gzipped_for_clients_that_accept_it(
    etags, calls, api_client, path, query, max_age
):
    plain = get(api_client, path, query)
    packed = get(api_client, path, query, **{"Accept-Encoding": "gzip, deflate"})

    assert "Content-Encoding" not in plain
    if len(plain.content) > 1024:
        assert packed["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in packed["Vary"]
        assert len(packed.content) < len(plain.content)
        unpacked = json.loads(gzip.decompress(packed.content))
        assert {k: v for k, v in unpacked.items() if k != "meta"} == answer(plain)
        assert packed["ETag"] == plain["ETag"]
    else:
        assert "Content-Encoding" not in packed


def test_most_read_answers_of_the_fixture_are_large_enough_to_compress(calls, api_client):
    large = [path for path, query, _ in READS if len(get(api_client, path, query).content) > 1024]
    assert len(large) >= 8, large


def test_gzip_is_for_json_api_answers_only(etags, calls, api_client, client):
    export = api_client.get("/api/v1/calls/export.csv", HTTP_ACCEPT_ENCODING="gzip")
    schema = client.get("/api/schema/", HTTP_ACCEPT_ENCODING="gzip")

    assert export.status_code == 200 and "Content-Encoding" not in export
    assert "ETag" not in export and "Cache-Control" not in export
    assert schema.status_code == 200 and "Content-Encoding" not in schema


# --- If-None-Match forms ---------------------------------------------------------------------

SUMMARY = ("/api/v1/analytics/summary", {"period": "24h"})


def test_weak_strong_and_list_forms_match(etags, calls, api_client):
    tag = get(api_client, *SUMMARY)["ETag"]
    opaque = tag.removeprefix("W/")

    for header in (tag, opaque, f'"nope", {tag}', f'W/"x.y",{opaque} , "z"'):
        assert get(api_client, *SUMMARY, **{"If-None-Match": header}).status_code == 304, header


def test_any_tag_is_answered_304_once_the_answer_exists(etags, calls, api_client):
    response = get(api_client, *SUMMARY, **{"If-None-Match": "*"})
    assert response.status_code == 304
    assert response["ETag"].startswith('W/"')

    missing = get(api_client, "/api/v1/calls/nope", {}, **{"If-None-Match": "*"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "header",
    [
        '"garbage"',
        "not-a-tag",
        'W/""',
        '"' + "a" * 5000 + '"',
        '"w.00000000000000000000000000000000"',
    ],
)
def test_unknown_or_malformed_tags_get_the_full_answer(etags, calls, api_client, header):
    response = get(api_client, *SUMMARY, **{"If-None-Match": header})
    assert response.status_code == 200
    assert response.json()["total_calls"] == 9


def test_a_tag_whose_validity_was_extended_does_not_match(etags, calls, api_client, clock):
    tag = get(api_client, *SUMMARY)["ETag"]
    validity, mac = tag.removeprefix('W/"').removesuffix('"').split(".")
    forged = f'W/"{int(validity, 36) * 2:x}.{mac}"'

    assert get(api_client, *SUMMARY, **{"If-None-Match": forged}).status_code == 200


def test_the_tag_belongs_to_the_request(etags, calls, api_client):
    tag = get(api_client, *SUMMARY)["ETag"]

    other = get(api_client, "/api/v1/analytics/summary", {"period": "7d"}, **{"If-None-Match": tag})
    zoned = get(
        api_client,
        "/api/v1/analytics/summary",
        {"period": "24h", "timezone": "Asia/Tokyo"},
        **{"If-None-Match": tag},
    )
    assert other.status_code == zoned.status_code == 200


def test_query_order_does_not_change_the_tag(etags, calls, api_client):
    one = api_client.get("/v2/calls?model_id=agent-1&limit=5")
    two = api_client.get("/v2/calls?limit=5&model_id=agent-1", HTTP_IF_NONE_MATCH=one["ETag"])
    assert two.status_code == 304


def test_a_tenant_time_zone_change_changes_the_tag(etags, calls, tenant, api_client):
    tag = get(api_client, "/api/v1/analytics/overview", {})["ETag"]
    tenant.timezone = "Pacific/Kiritimati"
    tenant.save()

    assert (
        get(api_client, "/api/v1/analytics/overview", {}, **{"If-None-Match": tag}).status_code
        == 200
    )


# --- Errors and the throttle -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/api/v1/analytics/summary", {"period": "2h"}, 400),
        ("/v2/calls", {}, 400),
        ("/v2/calls/nope", {}, 404),
        ("/api/v1/calls/nope", {}, 404),
        ("/api/v1/analytics/overview", {"startDate": "2024-01-01"}, 422),
    ],
)
def test_errors_never_carry_a_tag(etags, calls, api_client, client, path, query, status):
    response = get(api_client, path, query)
    assert response.status_code == status
    assert "ETag" not in response and "Cache-Control" not in response

    unauthenticated = client.get(path, query)
    assert unauthenticated.status_code == 401 and "ETag" not in unauthenticated


def test_a_304_is_not_counted_by_the_read_throttle(etags, calls, api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": "2/min"},
    }
    tag = get(api_client, *SUMMARY)["ETag"]  # read 1 of 2

    for _ in range(5):
        assert get(api_client, *SUMMARY, **{"If-None-Match": tag}).status_code == 304

    assert get(api_client, *SUMMARY).status_code == 200  # read 2 of 2
    throttled = get(api_client, *SUMMARY)
    assert throttled.status_code == 429
    assert "ETag" not in throttled


def test_without_a_write_generation_no_tag_is_given_and_every_read_is_answered(
    settings, calls, api_client
):
    settings.READ_API_ETAGS = False
    response = get(api_client, *SUMMARY)

    assert response.status_code == 200
    assert "ETag" not in response
    assert response["Cache-Control"] == "private, max-age=30"
    assert get(api_client, *SUMMARY, **{"If-None-Match": "*"}).status_code == 200


def test_an_unreachable_cache_means_full_answers_without_tags(
    etags, calls, api_client, monkeypatch
):
    from calls import counts

    def down(tenant_id: int) -> str:
        raise ConnectionError("cache down")

    monkeypatch.setattr(counts, "_current_generation", down)
    try:
        first = get(api_client, *SUMMARY)
        again = get(api_client, *SUMMARY, **{"If-None-Match": "*"})
    finally:
        cache_outage.forget_failures()

    assert first.status_code == 200 and "ETag" not in first
    assert again.status_code == 200 and "ETag" not in again


# --- The clock -------------------------------------------------------------------------------


def test_a_window_ending_now_changes_its_tag_when_it_crosses_an_hour(
    etags, tenant, api_client, clock
):
    call(tenant, NOW - timedelta(hours=5))
    query = {"period": "24h"}
    clock.now = datetime(2026, 3, 10, 10, 59, 59, 500000, tzinfo=UTC)
    before = get(api_client, "/api/v1/analytics/call-volume", query)

    clock.advance(seconds=0.4)  # 10:59:59.9: same hours, no row near an edge
    assert (
        get(
            api_client, "/api/v1/analytics/call-volume", query, **{"If-None-Match": before["ETag"]}
        ).status_code
        == 304
    )

    clock.advance(seconds=0.2)  # 11:00:00.1: the buckets moved on by an hour
    after = get(
        api_client, "/api/v1/analytics/call-volume", query, **{"If-None-Match": before["ETag"]}
    )
    assert after.status_code == 200
    assert answer(after) != answer(before)
    assert after.json()["data"][0]["timestamp"] == "2026-03-09T11:00:00Z"


def test_a_window_ending_now_changes_its_tag_when_a_call_leaves_it(
    etags, tenant, api_client, clock
):
    start = utc(2026, 3, 9, 10, 40, 17)
    call(tenant, start)
    call(tenant, start + timedelta(hours=3))
    clock.now = start + timedelta(hours=24) - timedelta(seconds=10)  # 10:40:07, mid-hour
    before = get(api_client, *SUMMARY)
    assert before.json()["total_calls"] == 2

    clock.advance(seconds=9)
    assert get(api_client, *SUMMARY, **{"If-None-Match": before["ETag"]}).status_code == 304

    clock.advance(seconds=2)  # the first call started more than 24 hours ago
    after = get(api_client, *SUMMARY, **{"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert after.json()["total_calls"] == 1


def test_a_call_started_later_enters_the_window_when_its_start_comes(
    etags, tenant, api_client, clock
):
    call(tenant, NOW + timedelta(seconds=30))
    before = get(api_client, *SUMMARY)
    assert before.json()["total_calls"] == 0

    clock.advance(seconds=31)
    after = get(api_client, *SUMMARY, **{"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert after.json()["total_calls"] == 1


def test_active_calls_change_their_tag_when_a_call_goes_stale(
    etags, tenant, api_client, clock, settings
):
    settings.ACTIVE_CALL_STALE_AFTER_SECONDS = 600
    call(tenant, NOW - timedelta(seconds=590), status="in-progress")
    # A fixed window: only going stale can change the answer.
    query = {"started_after": "2026-03-10T00:00:00Z", "started_before": "2026-03-11T00:00:00Z"}
    before = get(api_client, "/api/v1/analytics/active-calls", query)
    assert before.json()["count"] == 1

    clock.advance(seconds=9)
    assert (
        get(
            api_client, "/api/v1/analytics/active-calls", query, **{"If-None-Match": before["ETag"]}
        ).status_code
        == 304
    )

    clock.advance(seconds=2)
    after = get(
        api_client, "/api/v1/analytics/active-calls", query, **{"If-None-Match": before["ETag"]}
    )
    assert after.status_code == 200
    assert after.json()["count"] == 0


def test_a_tag_is_current_for_ten_minutes_at_most(etags, calls, api_client, clock):
    # A bump that failed (the cache unreachable after a commit) is outlived by no tag for longer.
    tag = get(api_client, "/v2/calls", {"model_id": "agent-1"})["ETag"]

    clock.advance(minutes=9, seconds=59)
    assert (
        get(api_client, "/v2/calls", {"model_id": "agent-1"}, **{"If-None-Match": tag}).status_code
        == 304
    )
    clock.advance(seconds=2)
    assert (
        get(api_client, "/v2/calls", {"model_id": "agent-1"}, **{"If-None-Match": tag}).status_code
        == 200
    )


def test_a_write_between_two_polls_changes_the_tag(etags, tenant, api_client, clock, write):
    before = get(api_client, *SUMMARY)

    clock.advance(seconds=1)
    write(tenant, [call_doc("c-new", start_time=iso(clock.now - timedelta(minutes=1)))])
    clock.advance(seconds=1)
    after = get(api_client, *SUMMARY, **{"If-None-Match": before["ETag"]})

    assert after.status_code == 200
    assert after.json()["total_calls"] == before.json()["total_calls"] + 1


def test_today_by_default_changes_its_tag_at_the_tenants_midnight(etags, tenant, api_client, clock):
    tenant.timezone = "Asia/Tokyo"  # UTC+9: midnight is 15:00 UTC
    tenant.save()
    clock.now = datetime(2026, 3, 10, 14, 59, 50, tzinfo=UTC)
    before = get(api_client, "/api/v1/analytics/overview", {"granularity": "day"})

    clock.advance(seconds=5)
    assert (
        get(
            api_client,
            "/api/v1/analytics/overview",
            {"granularity": "day"},
            **{"If-None-Match": before["ETag"]},
        ).status_code
        == 304
    )

    clock.advance(seconds=10)
    after = get(
        api_client,
        "/api/v1/analytics/overview",
        {"granularity": "day"},
        **{"If-None-Match": before["ETag"]},
    )
    assert after.status_code == 200
    assert after.json()["timeSeries"][-1]["period"] == "2026-03-11"


def test_a_window_that_outgrows_its_limit_is_refused_not_304(etags, tenant, api_client, clock):
    query = {"from_date": iso(NOW - timedelta(days=120) + timedelta(seconds=5))}
    before = get(api_client, "/v2/analytics/", query)
    assert before.status_code == 200

    clock.advance(seconds=10)
    after = get(api_client, "/v2/analytics/", query, **{"If-None-Match": before["ETag"]})
    assert after.status_code == 400


def test_an_analytics_roll_changes_the_tag(
    etags, tenant, api_client, clock, django_capture_on_commit_callbacks
):
    from analytics.rollups import roll_hour

    call(
        tenant,
        utc(2026, 3, 10, 8, 10),
        latencies=[("llm", "openai", 100.0), ("llm", "openai", 300.0)],
    )
    query = {"started_after": "2026-03-10T00:00:00Z", "started_before": "2026-03-10T10:00:00Z"}
    before = get(api_client, "/api/v1/analytics/provider-latency", query)

    with django_capture_on_commit_callbacks(execute=True):
        roll_hour(tenant_id=tenant.pk, hour=utc(2026, 3, 10, 8))

    after = get(
        api_client, "/api/v1/analytics/provider-latency", query, **{"If-None-Match": before["ETag"]}
    )
    assert after.status_code == 200


# --- Never a 304 for an answer that would differ ---------------------------------------------

SWEPT = [
    ("/api/v1/analytics/summary", {"period": "1h"}),
    ("/api/v1/analytics/call-volume", {"period": "1h", "timezone": "Asia/Kathmandu"}),
    ("/api/v1/analytics/active-calls", {"period": "24h"}),
    ("/api/v1/analytics/errors", {"period": "1h"}),
    ("/api/v1/analytics/activity", {}),
    ("/v2/analytics/", {"from_date": "2026-03-09T09:00:00Z"}),
]


@pytest.fixture
def crowded(tenant: Tenant, settings: Any) -> Iterator[None]:
    """Rows every few minutes around now and a day ago, some live, each with an error and an
    event, so a window ending now keeps passing rows, hours and the stale limit."""
    settings.ACTIVE_CALL_STALE_AFTER_SECONDS = 1800
    rng = random.Random(15)
    # A day ago and now: the edges of windows ending now; two days ago: the start of the window
    # before ``from_date``'s, which moves back as the window grows.
    for base in (
        NOW - timedelta(days=1),
        NOW - timedelta(hours=1),
        NOW,
        NOW - timedelta(days=2, hours=4),
    ):
        for _ in range(12):
            at = base + timedelta(seconds=rng.randrange(-3600, 3600))
            call(tenant, at, status=rng.choice(["completed", "failed", "in-progress", "ringing"]))
            error_log(tenant, at)
            event(tenant, at)
    yield


@pytest.mark.parametrize(("path", "query"), SWEPT)
def test_a_304_is_never_served_for_an_answer_that_would_differ(
    etags, crowded, api_client, clock, path, query
):
    """Two hours of polls at random intervals, each with the last tag: every 304 is checked
    against the answer computed afresh at that instant, and the answer changes often enough
    that serving 304 throughout would fail."""
    rng = random.Random(path)
    held = get(api_client, path, query)
    not_modified = changed = 0
    until = clock.now + timedelta(hours=2)
    while clock.now < until:
        clock.advance(seconds=rng.uniform(0.5, 240))
        polled = get(api_client, path, query, **{"If-None-Match": held["ETag"]})
        fresh = get(api_client, path, query)
        if polled.status_code == 304:
            not_modified += 1
            assert answer(fresh) == answer(held), clock.now
        else:
            assert polled.status_code == 200
            changed += answer(polled) != answer(held)
            held = polled
    assert not_modified and changed


# --- On the production cache -----------------------------------------------------------------


@pytest.mark.redis
def test_on_redis(etags, calls, tenant, api_client, settings, redis_url, monkeypatch, write):
    from django.core.cache import caches

    from calls import counts

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    redis_cache = caches["default"]
    redis_cache.clear()
    monkeypatch.setattr(counts, "cache", redis_cache)
    try:
        tag = get(api_client, *SUMMARY)["ETag"]
        assert get(api_client, *SUMMARY, **{"If-None-Match": tag}).status_code == 304

        write(tenant, [call_doc("c-redis", start_time=iso(NOW - timedelta(minutes=3)))])

        after = get(api_client, *SUMMARY, **{"If-None-Match": tag})
        assert after.status_code == 200
        assert after.json()["total_calls"] == 10
        assert get(api_client, *SUMMARY, **{"If-None-Match": after["ETag"]}).status_code == 304
    finally:
        redis_cache.clear()
