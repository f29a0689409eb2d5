"""A real Celery worker against Redis rolls the days and hours ingestion marked dirty
(PostgreSQL + Redis).

The worker is a separate process on the test database, so this needs PostgreSQL; under CI a
missing Redis fails the test instead of skipping it (see the ``redis_url`` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.db import connection
from django.utils import timezone

from analytics.facts import FactScope
from analytics.facts.plan import split_window
from analytics.models import CallDayRollup, CallHourRollup, RollupDay, RollupHour
from analytics.windows import date_window, utc_hour
from calls.models import Tenant
from calls.services import ingest_call_documents

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def worker(redis_url: str):
    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": redis_url, "DEBUG": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield Celery(broker=redis_url)
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_worker_rolls_dirty_days_and_answers_come_from_rollups(worker):
    tenant = Tenant.objects.create(name="W", slug="w", timezone="UTC")
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {
                "call_id": f"c{i}",
                "status": "completed",
                "start_time": f"2026-03-02T1{i}:00:00Z",
                "duration": 30,
            }
            for i in range(3)
        ],
    )
    assert RollupDay.objects.get(tenant=tenant).dirty_since is not None

    worker.send_task("analytics.tasks.roll_dirty_days")

    deadline = time.monotonic() + 60
    state = RollupDay.objects.get(tenant=tenant)
    while time.monotonic() < deadline:
        state.refresh_from_db()
        if state.rolled_at is not None and state.dirty_since is None:
            break
        time.sleep(0.25)
    assert state.rolled_at is not None and state.dirty_since is None
    assert CallDayRollup.objects.get(tenant=tenant, grouping="day").calls == 3
    window = date_window(date(2026, 3, 1), date(2026, 3, 3), tenant.zone)
    split = split_window(scope=FactScope(tenant=tenant, window=window, zone=tenant.zone))
    # Only the rolled day comes from rollups; the days around it were never rolled.
    assert split.days == (date(2026, 3, 2),)


def test_worker_rolls_the_dirty_and_the_quiet_hours(worker):
    tenant = Tenant.objects.create(name="W", slug="w", timezone="Asia/Kolkata")
    current = utc_hour(timezone.now())
    busy = current - timedelta(hours=2)
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {"call_id": "c", "status": "completed", "start_time": busy.isoformat(), "duration": 30}
        ],
    )
    quiet = [current - timedelta(hours=3), current - timedelta(hours=1)]

    worker.send_task("analytics.tasks.roll_dirty_hours")

    clean = RollupHour.objects.filter(
        tenant=tenant, rolled_at__isnull=False, dirty_since__isnull=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and clean.count() < 3:
        time.sleep(0.25)
    assert set(clean.values_list("hour", flat=True)) == {busy, *quiet}
    assert CallHourRollup.objects.get(tenant=tenant, grouping="day").calls == 1
