"""Celery tasks: thin wrappers over ``analytics.rollups`` with primitive arguments.

All three are idempotent (a roll replaces the day's rows in one transaction), so duplicate beats,
retries and redeliveries after a worker crash are harmless.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import OperationalError

from analytics import rollups

# Dirty days handed out per beat; the rest wait for the next beat.
DIRTY_DAYS_PER_BEAT = 500
RECONCILE_DAYS = 3


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def roll_tenant_day(tenant_id: int, day: str) -> bool:
    """Rebuilds the rollups of one tenant-local day (``day`` in ISO format)."""
    return rollups.roll_day(tenant_id=tenant_id, day=date.fromisoformat(day))


@shared_task(acks_late=True)
def roll_dirty_days() -> int:
    """Enqueues a roll for every dirty day (oldest first). Returns how many were enqueued."""
    pairs = rollups.dirty_days(limit=DIRTY_DAYS_PER_BEAT)
    for tenant_id, day in pairs:
        roll_tenant_day.delay(tenant_id, day.isoformat())
    return len(pairs)


@shared_task(acks_late=True)
def reconcile_recent_days() -> int:
    """Re-rolls every tenant's last few local days, whatever their state (nightly safety net for
    anything a dirty mark could have missed, such as rows written by hand)."""
    pairs = rollups.recent_days(days=RECONCILE_DAYS)
    for tenant_id, day in pairs:
        roll_tenant_day.delay(tenant_id, day.isoformat())
    return len(pairs)
