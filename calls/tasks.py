"""Celery tasks of the calls app (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from calls.platform_ingest import prune_deliveries


@shared_task(acks_late=True)
def prune_webhook_deliveries() -> int:
    """Deletes platform deliveries past their tenant's retention (idempotent)."""
    return prune_deliveries(now=timezone.now())
