"""Celery tasks: thin wrappers over ``analytics.rollups`` with primitive arguments.

Every task is idempotent (a roll replaces the rows of its days or hours in one transaction, a
prune deletes what is past the horizon), so duplicate beats, retries and redeliveries after a
worker crash are harmless.
"""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task
from django.db import OperationalError

from analytics import rollups

# Dirty days and dirty hours handed out per beat; the rest wait for the next beat.
DIRTY_DAYS_PER_BEAT = 500
DIRTY_HOURS_PER_BEAT = 500
RECONCILE_DAYS = 3


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def roll_tenant_days(tenant_id: int, first: str, last: str) -> bool:
    """Rebuilds the rollups of a tenant's local days ``first`` .. ``last`` (ISO dates)."""
    return rollups.roll_days(
        tenant_id=tenant_id, first=date.fromisoformat(first), last=date.fromisoformat(last)
    )


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def roll_tenant_hours(tenant_id: int, first: str, last: str) -> bool:
    """Rebuilds the rollups of a tenant's UTC hours starting ``first`` .. ``last`` (ISO 8601
    with offset)."""
    return rollups.roll_hours(
        tenant_id=tenant_id,
        first=datetime.fromisoformat(first),
        last=datetime.fromisoformat(last),
    )


def enqueue_rolls(pairs: list[tuple[int, date]]) -> int:
    """Enqueues rolls of ``(tenant id, day)`` pairs, consecutive days of a tenant in one task."""
    for tenant_id, first, last in rollups.runs(pairs):
        roll_tenant_days.delay(tenant_id, first.isoformat(), last.isoformat())
    return len(pairs)


def enqueue_hour_rolls(pairs: list[tuple[int, datetime]]) -> int:
    """Enqueues rolls of ``(tenant id, hour)`` pairs, consecutive hours of a tenant in one task."""
    for tenant_id, first, last in rollups.hour_runs(pairs):
        roll_tenant_hours.delay(tenant_id, first.isoformat(), last.isoformat())
    return len(pairs)


@shared_task(acks_late=True)
def roll_dirty_days() -> int:
    """Enqueues rolls of the dirty days (oldest marks first), consecutive days of a tenant in one
    task. Returns how many days were enqueued."""
    return enqueue_rolls(rollups.dirty_days(limit=DIRTY_DAYS_PER_BEAT))


@shared_task(acks_late=True)
def roll_dirty_hours() -> int:
    """Enqueues rolls of the dirty hours that have ended (oldest marks first) and of the last
    completed hours no write touched, consecutive hours of a tenant in one task. Returns how many
    hours were enqueued."""
    return enqueue_hour_rolls(rollups.hours_to_roll(limit=DIRTY_HOURS_PER_BEAT))


@shared_task(acks_late=True)
def reconcile_recent_days() -> int:
    """Re-rolls every tenant's last few local days, whatever their state (nightly safety net for
    anything a dirty mark could have missed, such as rows written by hand)."""
    return enqueue_rolls(rollups.recent_days(days=RECONCILE_DAYS))


@shared_task(acks_late=True)
def reconcile_recent_hours() -> int:
    """Re-rolls every tenant's completed hours of the last few days, whatever their state (the
    same safety net for hours; it also rolls the quiet hours the beat missed while down)."""
    return enqueue_hour_rolls(rollups.recent_hours(days=RECONCILE_DAYS))


@shared_task(acks_late=True)
def prune_hours() -> int:
    """Deletes the hour rollups past the hour horizon. Returns how many rows went."""
    return rollups.prune_hours()
