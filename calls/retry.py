"""Retrying a write transaction that lost a race to a concurrent writer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, OperationalError, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL SQLSTATEs of transactions it rolled back to resolve a conflict: safe to run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _lost_race(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        # A unique key another writer inserted first; its transaction has committed by now.
        return True
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def atomic_with_retry(write: Callable[[], T], *, attempts: int = 3) -> T:
    """Runs ``write`` in a transaction; when it loses a race to a concurrent writer (a unique
    key inserted first, a deadlock), runs it again in a new transaction, which then sees the
    other writer's committed rows."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return write()
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts or not _lost_race(exc):
                raise
            logger.info("write lost a race (%s), retrying (attempt %s)", exc, attempt)
    raise AssertionError("unreachable")
