"""Management commands: create_tenant, create_api_key, seed_demo, import_calls, setup_demo."""

from __future__ import annotations

import importlib
import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, F, Q
from rest_framework.test import APIClient

from calls.models import (
    ActivityEvent,
    ApiKey,
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    TranscriptTurn,
    rows_written,
)

pytestmark = pytest.mark.django_db

UNTIL = "2026-03-01"


def run(*args: Any, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def seed(tenant: str, *, calls: int = 120, seed: int = 1, **options: Any) -> str:
    out, _ = run(
        "seed_demo",
        tenant=tenant,
        calls=calls,
        days=14,
        seed=seed,
        until=UNTIL,
        verbosity=1,
        **options,
    )
    return out


def call_fingerprint(slug: str) -> list[tuple[Any, ...]]:
    return list(
        Call.objects.filter(tenant__slug=slug)
        .order_by("start_time", "call_id")
        .values_list("call_id", "status", "start_time", "duration", "agent__model_id")
    )


def lead_fingerprint(slug: str) -> list[tuple[Any, ...]]:
    return list(
        Lead.objects.filter(tenant__slug=slug)
        .order_by("lead_id")
        .values_list("lead_id", "status", "score", "created_at", "converted_at")
    )


def table_counts(slug: str) -> dict[str, int]:
    return {
        "calls": Call.objects.filter(tenant__slug=slug).count(),
        "turns": TranscriptTurn.objects.filter(call__tenant__slug=slug).count(),
        "variables": CollectedVariable.objects.filter(call__tenant__slug=slug).count(),
        "actions": ExecutedAction.objects.filter(call__tenant__slug=slug).count(),
        "latencies": LatencySample.objects.filter(tenant__slug=slug).count(),
        "errors": ErrorLog.objects.filter(tenant__slug=slug).count(),
        "events": ActivityEvent.objects.filter(tenant__slug=slug).count(),
        "leads": Lead.objects.filter(tenant__slug=slug).count(),
    }


# --- create_tenant ---------------------------------------------------------------------------


def test_create_tenant_prints_ids_webhook_path_and_secret() -> None:
    out, _ = run("create_tenant", "Acme Health", timezone="Europe/Berlin")

    tenant = Tenant.objects.get(slug="acme-health")
    assert tenant.timezone == "Europe/Berlin"
    assert f"id:             {tenant.pk}" in out
    assert f"/api/v1/webhooks/synthflow/{tenant.webhook_token}" in out
    assert tenant.webhook_secret in out


def test_create_tenant_rejects_an_unknown_timezone() -> None:
    with pytest.raises(CommandError, match="not an IANA time zone"):
        run("create_tenant", "Acme", timezone="Mars/Olympus_Mons")
    assert not Tenant.objects.exists()


def test_create_tenant_rejects_a_taken_slug(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="exists already"):
        run("create_tenant", "Another Acme", slug=tenant.slug)


# --- create_api_key --------------------------------------------------------------------------


def test_create_api_key_prints_a_key_that_authenticates(tenant: Tenant) -> None:
    out, _ = run("create_api_key", tenant.slug, name="bi")
    raw = out.strip()

    key = ApiKey.objects.get(tenant=tenant)
    assert key.name == "bi"
    assert raw.startswith(key.prefix)
    client = APIClient()
    response = client.post(
        "/api/v1/calls",
        {"call_id": "c-1", "status": "completed", "start_time": "2026-03-01T10:00:00Z"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    assert Call.objects.filter(tenant=tenant, call_id="c-1").exists()


def test_create_api_key_accepts_the_tenant_id_and_rejects_unknown_tenants(tenant: Tenant) -> None:
    run("create_api_key", str(tenant.pk))
    assert ApiKey.objects.filter(tenant=tenant).count() == 1
    with pytest.raises(CommandError, match="No tenant"):
        run("create_api_key", "nope")


def test_create_api_key_defaults_to_scope_all_without_expiry(tenant: Tenant) -> None:
    _, err = run("create_api_key", tenant.slug)

    key = ApiKey.objects.get()
    assert (key.scope, key.expires_at) == ("all", None)
    assert "scope all, does not expire" in err


def test_create_api_key_makes_a_key_of_the_scope_asked_for(tenant: Tenant) -> None:
    out, _ = run("create_api_key", tenant.slug, "--scope", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.strip()}")

    assert ApiKey.objects.get().scope == "read"
    assert client.get("/api/v1/calls").status_code == 200
    write = client.post("/api/v1/calls", {"call_id": "c-1"}, format="json")
    assert write.status_code == 403
    with pytest.raises(CommandError, match="scope"):
        run("create_api_key", tenant.slug, "--scope", "write")


def test_create_api_key_accepts_a_past_expiry_and_the_key_is_refused(tenant: Tenant) -> None:
    out, err = run("create_api_key", tenant.slug, "--expires", "2020-01-01T00:00:00Z")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.strip()}")

    assert ApiKey.objects.get().expires_at.isoformat() == "2020-01-01T00:00:00+00:00"
    assert "expires 2020-01-01 00:00 UTC (already expired" in err
    response = client.get("/api/v1/calls")
    assert response.status_code == 401
    assert response.json()["detail"] == "API key expired."


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # A date is 00:00 UTC that day, whatever the tenant's zone (Berlin here).
        ("2030-01-15", "2030-01-15T00:00:00+00:00"),
        # A datetime without an offset is UTC; one with an offset is that instant.
        ("2030-01-15T08:30:00", "2030-01-15T08:30:00+00:00"),
        ("2030-01-15T08:30:00+05:00", "2030-01-15T03:30:00+00:00"),
    ],
)
def test_create_api_key_reads_expiry_dates_and_datetimes(
    other_tenant: Tenant, given: str, expected: str
) -> None:
    run("create_api_key", other_tenant.slug, expires=given)

    key = ApiKey.objects.get()
    assert key.expires_at.isoformat() == expected
    assert key.is_active


@pytest.mark.parametrize("given", ["tomorrow", "2030-13-01", "3000-01-01"])
def test_create_api_key_refuses_an_expiry_that_is_no_instant(tenant: Tenant, given: str) -> None:
    with pytest.raises(CommandError, match="--expires"):
        run("create_api_key", tenant.slug, expires=given)
    assert not ApiKey.objects.exists()


# --- seed_demo -------------------------------------------------------------------------------


def test_seed_demo_is_deterministic_for_a_seed_and_anchor() -> None:
    seed("one", seed=7)
    seed("two", seed=7)
    seed("three", seed=8)

    one = call_fingerprint("one")
    assert len(one) == 120
    assert one == call_fingerprint("two")
    assert set(one).isdisjoint(call_fingerprint("three"))
    assert lead_fingerprint("one") == lead_fingerprint("two")


def test_seed_demo_spreads_calls_over_the_window_before_until() -> None:
    seed("demo", calls=200)

    times = Call.objects.filter(tenant__slug="demo").values_list("start_time", flat=True)
    assert min(times).isoformat() >= "2026-02-15"
    assert max(times).isoformat() < "2026-03-01"


def test_seed_demo_rerun_writes_nothing_twice() -> None:
    seed("demo", calls=150)
    before = table_counts("demo")

    out = seed("demo", calls=150)

    assert table_counts("demo") == before
    assert "0 calls written, 150 already there" in out


def test_seed_demo_with_more_calls_adds_only_the_missing_ones() -> None:
    seed("demo", calls=600, batch=500)
    first = {c[0] for c in call_fingerprint("demo")}

    seed("demo", calls=1200, batch=500)

    calls = call_fingerprint("demo")
    assert len(calls) == len({c[0] for c in calls}) == 1200
    # The first chunk of call ids does not depend on the call count.
    assert len(first & {c[0] for c in calls}) >= 500
    assert not ActivityEvent.objects.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1)


def test_seed_demo_writes_children_leads_and_consistent_events() -> None:
    seed("demo", calls=200)
    tenant = Tenant.objects.get(slug="demo")
    counts = table_counts("demo")
    assert all(counts[name] > 0 for name in counts), counts

    calls = Call.objects.filter(tenant=tenant)
    events = ActivityEvent.objects.filter(tenant=tenant)
    # Every call has its conversation.started event, at its start, with ingestion's key.
    started = events.filter(type="conversation.started")
    assert started.count() == calls.count()
    assert not started.exclude(occurred_at=F("call__start_time")).exists()
    assert set(started.values_list("dedupe_key", flat=True)) == {
        f"conversation.started:{cid}" for cid in calls.values_list("call_id", flat=True)
    }
    # Handed-off calls and handoff events match one to one.
    handoffs = calls.filter(handoff=True)
    assert set(events.filter(type="conversation.handoff").values_list("call_id", flat=True)) == set(
        handoffs.values_list("pk", flat=True)
    )
    # One lead.created per lead, keyed by the lead's pk.
    leads = Lead.objects.filter(tenant=tenant)
    assert set(events.filter(type="lead.created").values_list("dedupe_key", flat=True)) == {
        f"lead.created:{pk}" for pk in leads.values_list("pk", flat=True)
    }
    # Stage stamps follow the funnel order.
    for lead in leads.exclude(status="new"):
        if lead.status in {"qualified", "demo_booked", "converted"}:
            assert lead.qualified_at is not None
        if lead.status == "converted":
            assert lead.qualified_at <= lead.demo_booked_at <= lead.converted_at
            assert events.filter(type="conversion.completed", lead=lead).count() == 1
        if lead.status == "lost":
            assert lead.lost_at is not None
        assert 0 <= lead.score <= 100
    qualified = leads.filter(qualified_at__isnull=False)
    assert events.filter(type="lead.qualified").count() == qualified.count()
    assert calls.filter(lead__isnull=False).exists()
    # Calls carry the fields analytics needs.
    completed = calls.filter(status="completed")
    assert completed.exists()
    assert not completed.filter(Q(duration__isnull=True) | Q(end_time__isnull=True)).exists()
    assert not completed.filter(sentiment__isnull=True).exists()
    assert calls.exclude(status="completed").exists()
    assert {"stt", "llm", "tts"} == set(
        LatencySample.objects.filter(tenant=tenant).values_list("provider_type", flat=True)
    )
    turn = TranscriptTurn.objects.filter(call__tenant=tenant).order_by("call", "position").first()
    assert turn is not None and turn.role == "bot" and turn.end_ms > turn.start_ms
    assert "{" not in "".join(
        TranscriptTurn.objects.filter(call__tenant=tenant).values_list("text", flat=True)
    )


def test_seed_demo_reports_every_call_start_lead_stamp_event_and_error_as_written() -> None:
    received: set[Any] = set()

    def receiver(sender: Any, tenant: Tenant, instants: set[Any], **kwargs: Any) -> None:
        received.update(instants)

    rows_written.connect(receiver)
    try:
        seed("demo", calls=200)
    finally:
        rows_written.disconnect(receiver)

    starts = set(Call.objects.filter(tenant__slug="demo").values_list("start_time", flat=True))
    stamps = Lead.objects.filter(tenant__slug="demo").values_list(
        "created_at", "qualified_at", "demo_booked_at", "converted_at", "lost_at"
    )
    events = set(
        ActivityEvent.objects.filter(tenant__slug="demo").values_list("occurred_at", flat=True)
    )
    errors = set(ErrorLog.objects.filter(tenant__slug="demo").values_list("timestamp", flat=True))
    assert received == (
        starts | events | errors | {t for row in stamps for t in row if t is not None}
    )
    assert not events <= starts  # handoffs and lead steps happen at other times
    assert not errors <= starts  # errors happen during their calls


def test_seed_demo_rejects_a_bad_until() -> None:
    with pytest.raises(CommandError, match="--until"):
        run("seed_demo", tenant="demo", calls=10, until="yesterday")


# --- import_calls ----------------------------------------------------------------------------


def test_import_calls_reports_bad_lines_and_stores_the_good_ones(
    tenant: Tenant, tmp_path: Path
) -> None:
    good = [
        {"call_id": "imp-1", "status": "completed", "start_time": "2026-03-01T10:00:00Z"},
        {
            "call_id": "imp-2",
            "status": "no-answer",
            "start_time": 1772359200000,
            "transcript": "bot: Hello?\nhuman: Hi.",
        },
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good[0]),
                '{"call_id": "broken", ',
                json.dumps({"call_id": "imp-3", "status": "exploded", "start_time": "x"}),
                "",
                json.dumps(good[1]),
            ]
        )
        + "\n"
    )

    out, err = run("import_calls", str(path), tenant=tenant.slug, verbosity=0)

    assert re.search(r"line 2: invalid JSON", err)
    assert re.search(r"line 3: invalid call document: .*status", err)
    assert "start_time" in err
    assert "line 1" not in err and "line 5" not in err
    assert "2 created, 0 updated, 0 unchanged, 2 bad line(s)" in out
    assert set(Call.objects.filter(tenant=tenant).values_list("call_id", flat=True)) == {
        "imp-1",
        "imp-2",
    }
    assert TranscriptTurn.objects.filter(call__call_id="imp-2").count() == 2

    out, _ = run("import_calls", str(path), tenant=tenant.slug, verbosity=0)
    assert "0 created, 0 updated, 2 unchanged, 2 bad line(s)" in out
    assert Call.objects.filter(tenant=tenant).count() == 2

    with pytest.raises(CommandError, match="2 bad line"):
        run("import_calls", str(path), tenant=tenant.slug, strict=True, verbosity=0)


def test_import_calls_refuses_hostile_json_lines_and_keeps_going(
    tenant: Tenant, tmp_path: Path
) -> None:
    good = {"call_id": "imp-ok", "status": "completed", "start_time": "2026-03-01T10:00:00Z"}
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        "\n".join(
            [
                "[" * 2000 + "]" * 2000,  # deep enough to exhaust the recursion limit
                '{"call_id": "inf", "status": "completed", "start_time": "2026-03-01T10:00:00Z",'
                ' "duration": 1e400}',
                '{"call_id": "sur", "status": "completed", "start_time": "2026-03-01T10:00:00Z",'
                ' "lead_name": "\\ud800"}',
                json.dumps(good),
            ]
        )
        + "\n"
    )

    out, err = run("import_calls", str(path), tenant=tenant.slug, verbosity=0)

    assert re.search(r"line 1: invalid JSON: .*nested deeper", err)
    assert re.search(r"line 2: invalid JSON", err)
    assert re.search(r"line 3: invalid JSON", err)
    assert "1 created, 0 updated, 0 unchanged, 3 bad line(s)" in out
    assert list(Call.objects.filter(tenant=tenant).values_list("call_id", flat=True)) == ["imp-ok"]


def test_import_calls_batches_and_needs_an_existing_file(tenant: Tenant, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(
            json.dumps({"call_id": f"b-{i}", "status": "completed", "start_time": 1772359200000})
            + "\n"
            for i in range(7)
        )
    )
    out, _ = run("import_calls", str(path), tenant=tenant.slug, batch=3, verbosity=0)
    assert "7 created" in out
    with pytest.raises(CommandError, match="no such file"):
        run("import_calls", str(tmp_path / "missing.jsonl"), tenant=tenant.slug)


# --- setup_demo ------------------------------------------------------------------------------


def test_setup_demo_is_idempotent_and_shows_credentials_once() -> None:
    first, _ = run("setup_demo", calls=80, days=10, verbosity=0)
    calls = Call.objects.filter(tenant__slug="demo").count()
    second, _ = run("setup_demo", calls=80, days=10, verbosity=0)

    User = get_user_model()
    assert User.objects.filter(username="admin", is_superuser=True).count() == 1
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert calls == 80
    assert Call.objects.filter(tenant__slug="demo").count() == 80
    assert ApiKey.objects.filter(tenant__slug="demo", name="demo").count() == 1

    password = re.search(r"Login:\s+admin / (\S+)", first)
    assert password is not None
    assert User.objects.get(username="admin").check_password(password.group(1))
    assert "admin / " not in second and "changepassword admin" in second
    key = re.search(r"API key:\s+(cs_\S+)", first)
    assert key is not None and key.group(1) not in second
    assert "create_api_key demo" in second
    for output in (first, second):
        assert "http://127.0.0.1:8000/admin/" in output
        assert "http://127.0.0.1:8000/api/docs/" in output
        assert "/v2/calls?model_id=" in output
    model_id = re.search(r"model_id=([0-9a-f-]+)", first)
    assert model_id is not None
    assert Call.objects.filter(tenant__slug="demo", agent__model_id=model_id.group(1)).exists()
    # The example sets $KEY once and the curl line uses it, so it can be pasted as printed.
    assert f"export KEY={key.group(1)}" in first
    assert "export KEY=<your API key>" in second
    assert 'curl -H "Authorization: Bearer $KEY"' in first


def test_setup_demo_prints_the_address_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "127.0.0.1:8100")
    from_env, _ = run("setup_demo", calls=20, days=2, verbosity=0)
    given, _ = run("setup_demo", calls=20, days=2, verbosity=0, base_url="http://example.test:9")

    urls = re.findall(r"https?://[^\s\"/]+", from_env)
    assert urls and set(urls) == {"http://127.0.0.1:8100"}
    assert set(re.findall(r"https?://[^\s\"/]+", given)) == {"http://example.test:9"}


def test_seed_demo_keeps_each_calls_turn_count_with_its_turns() -> None:
    seed("demo", calls=200)

    counted = dict(
        Call.objects.filter(tenant__slug="demo")
        .annotate(n=Count("turns"))
        .values_list("call_id", "n")
    )
    stored = dict(Call.objects.filter(tenant__slug="demo").values_list("call_id", "turn_count"))
    assert stored == counted
    assert sum(stored.values()) > 200


def test_seed_demo_without_transcripts_writes_the_same_calls_without_turns() -> None:
    seed("full", calls=150, seed=3)
    seed("bare", calls=150, seed=3, without_transcripts=True)

    assert call_fingerprint("bare") == call_fingerprint("full")
    bare, full = table_counts("bare"), table_counts("full")
    assert bare["turns"] == 0 < full["turns"]
    assert {k: v for k, v in bare.items() if k != "turns"} == {
        k: v for k, v in full.items() if k != "turns"
    }
    assert not Call.objects.filter(tenant__slug="bare", turn_count__gt=0).exists()


def test_turn_count_migration_counts_the_turns_of_existing_calls() -> None:
    backfill = importlib.import_module("calls.migrations.0003_call_turn_count").BACKFILL
    seed("demo", calls=120)
    calls = Call.objects.filter(tenant__slug="demo")
    expected = dict(calls.values_list("call_id", "turn_count"))
    calls.update(turn_count=0)

    with connection.cursor() as cursor:
        cursor.execute(backfill)

    assert dict(calls.values_list("call_id", "turn_count")) == expected
    assert any(expected.values())


def test_seed_demo_marks_each_calls_first_sample_of_a_provider() -> None:
    seed("demo", calls=120)
    samples = LatencySample.objects.filter(tenant__slug="demo")
    firsts = samples.filter(first_of_provider=True)

    pairs = samples.values("call", "provider_type", "provider_name").distinct().count()
    assert firsts.count() == pairs < samples.count()
    assert firsts.values("call", "provider_type", "provider_name").distinct().count() == pairs


def test_first_of_provider_migration_marks_existing_samples() -> None:
    backfill = importlib.import_module("calls.migrations.0007_latency_first_of_provider").BACKFILL
    seed("demo", calls=120)
    samples = LatencySample.objects.filter(tenant__slug="demo")
    expected = dict(samples.values_list("pk", "first_of_provider"))
    samples.update(first_of_provider=False)

    with connection.cursor() as cursor:
        cursor.execute(backfill)

    assert dict(samples.values_list("pk", "first_of_provider")) == expected
    assert any(expected.values()) and not all(expected.values())
