"""Platform webhook deliveries: verify, map, keep, upsert.

A delivery is verified with its platform's own scheme before anything of it is parsed
(``calls.platforms``), then mapped to a partial call document that the ordinary upsert
(``calls.services.ingest_call_documents``) applies: a field an event leaves out keeps its value
and a status only moves forward, so events of one call that arrive out of order or more than
once converge to what in-order delivery gives. The payload (redacted by the platform module) is
kept as a ``WebhookDelivery`` under the platform's idempotency key: the unique constraint makes a
resend, concurrent ones included, a ``duplicate`` that writes nothing, and the kept payloads let
``reprocess_deliveries`` rebuild calls after a mapping fix.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q

from calls.documents import storable_json
from calls.models import Call, PlatformConnection, Tenant, WebhookDelivery
from calls.platform_connections import credentials, record_delivery, record_failure
from calls.platforms import (
    PLATFORMS,
    Delivery,
    PayloadInvalid,
    Platform,
    PlatformEvent,
    SignatureInvalid,
)
from calls.retry import atomic_with_retry
from calls.services import (
    MAX_ATTEMPTS,
    CallOutcome,
    DocumentsInvalid,
    ingest_call_documents,
    parse_documents,
)

logger = logging.getLogger(__name__)

DeliveryOutcomeName = Literal["created", "updated", "unchanged", "duplicate", "ignored"]
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class DeliveryOutcome:
    outcome: DeliveryOutcomeName
    event_type: str
    call_id: str


def _stored_key(key: str) -> str:
    # Keys are the platform's; one longer than the column is kept as its digest (still unique).
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def map_payload(module: Platform, payload: Any) -> PlatformEvent:
    """``module.parse_payload(payload)``, with its stored payload checked like any stored JSON.
    Raises ``PayloadInvalid``."""
    try:
        event = module.parse_payload(payload)
        storable_json(event.payload)
    except RecursionError:
        raise PayloadInvalid("(payload)", "nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, PayloadInvalid):
            raise
        raise PayloadInvalid("(payload)", str(exc)) from None
    return event


def receive_delivery(
    *, connection: PlatformConnection, delivery: Delivery, now: datetime
) -> DeliveryOutcome:
    """Verifies, maps and applies one delivery to ``connection`` (its tenant's calls only).

    Raises ``SignatureInvalid`` (nothing parsed, nothing written), ``PayloadInvalid`` or
    ``DocumentsInvalid`` (verified, but nothing written); each counts as a failure on the
    connection. An event Callscope does not use is ``ignored`` and not kept."""
    module = PLATFORMS[connection.platform]
    try:
        module.verify(delivery, credentials(connection, now=now), now)
        try:
            payload = module.decode(delivery)
        except RecursionError:
            raise PayloadInvalid("(payload)", "nested too deeply") from None
        event = map_payload(module, payload)
        outcome = apply_event(
            tenant=connection.tenant, platform=connection.platform, event=event, received_at=now
        )
    except SignatureInvalid as exc:
        _refused(connection, now, f"signature: {exc}")
        raise
    except PayloadInvalid as exc:
        _refused(connection, now, f"payload: {exc.field}")
        raise
    except DocumentsInvalid as exc:
        fields = ", ".join(sorted({str(e.get("field")) for e in exc.errors}))
        _refused(connection, now, f"document: {fields}")
        raise
    record_delivery(connection=connection, at=now)
    return outcome


def _refused(connection: PlatformConnection, now: datetime, reason: str) -> None:
    # The reason names the check or the field, never a value of the payload.
    record_failure(connection=connection, at=now, reason=reason)
    logger.warning(
        "platform delivery refused: tenant_id=%s platform=%s %s",
        connection.tenant_id,
        connection.platform,
        reason,
    )


def apply_event(
    *, tenant: Tenant, platform: str, event: PlatformEvent, received_at: datetime
) -> DeliveryOutcome:
    """Keeps ``event`` as a delivery of ``tenant`` and upserts its document, in one transaction;
    a key seen before is a ``duplicate`` and writes nothing. Raises ``DocumentsInvalid`` before
    writing when the document is invalid."""
    if event.document is None:
        return DeliveryOutcome("ignored", event.event_type, event.call_id)
    document = {**event.document, "platform": platform}
    parse_documents([document])
    key = _stored_key(event.idempotency_key)

    def write() -> DeliveryOutcome:
        try:
            # Its own savepoint: a key another delivery holds rolls back only this insert.
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    tenant=tenant,
                    platform=platform,
                    call_id=str(document["call_id"])[:100],
                    event_type=event.event_type[:100],
                    idempotency_key=key,
                    payload=event.payload,
                    received_at=received_at,
                )
        except IntegrityError:
            return DeliveryOutcome("duplicate", event.event_type, event.call_id)
        outcome = _upsert(tenant, dict(document), estimated_start=event.start_time_estimated)
        return DeliveryOutcome(outcome.outcome, event.event_type, event.call_id)

    return atomic_with_retry(write, attempts=MAX_ATTEMPTS)


def _upsert(tenant: Tenant, document: dict[str, Any], *, estimated_start: bool) -> CallOutcome:
    """Upserts an event's ``document`` for ``tenant``, in the caller's transaction."""
    if estimated_start:
        _keep_stored_start(tenant, document)
    (outcome,) = ingest_call_documents(tenant=tenant, documents=[document])
    return outcome


def _keep_stored_start(tenant: Tenant, document: dict[str, Any]) -> None:
    """Gives a document whose start is only estimated (an event that does not carry the call's
    start) the start already stored for its call, if any: a late event must not move a start an
    earlier event knew. The call's row is locked until the upsert, in the same transaction."""
    stored = (
        Call.objects.select_for_update()
        .filter(tenant=tenant, call_id=document["call_id"])
        .values_list("start_time", flat=True)
        .first()
    )
    if stored is not None:
        document["start_time"] = stored.isoformat()


@dataclass
class ReprocessCounts:
    deliveries: int = 0
    updated: int = 0
    unchanged: int = 0
    created: int = 0
    ignored: int = 0
    failed: int = 0


def deliveries_to_reprocess(
    *, platform: str | None = None, since: datetime | None = None, tenant: Tenant | None = None
) -> Iterator[WebhookDelivery]:
    """Kept deliveries in received order (by id within an instant), read in chunks."""
    query = Q()
    if platform:
        query &= Q(platform=platform)
    if since is not None:
        query &= Q(received_at__gte=since)
    if tenant is not None:
        query &= Q(tenant=tenant)
    deliveries = WebhookDelivery.objects.filter(query).select_related("tenant")
    return deliveries.order_by("received_at", "id").iterator(chunk_size=500)


def reprocess_deliveries(
    *, platform: str | None = None, since: datetime | None = None, tenant: Tenant | None = None
) -> ReprocessCounts:
    """Maps every kept delivery again with the current platform modules and upserts its
    document, in received order: calls are updated to what the current mapping makes of the
    same deliveries. Writes calls (and what they carry) only; the deliveries stay as they are.
    A delivery that no longer maps or validates is logged, counted and skipped."""
    counts = ReprocessCounts()
    for delivery in deliveries_to_reprocess(platform=platform, since=since, tenant=tenant):
        counts.deliveries += 1
        module = PLATFORMS.get(delivery.platform)
        if module is None:
            counts.failed += 1
            logger.warning("reprocess: no module for platform %s", delivery.platform)
            continue
        try:
            event = map_payload(module, delivery.payload)
            if event.document is None:
                counts.ignored += 1
                continue
            with transaction.atomic():
                document = {**event.document, "platform": delivery.platform}
                outcome = _upsert(
                    delivery.tenant, document, estimated_start=event.start_time_estimated
                )
        except (PayloadInvalid, DocumentsInvalid) as exc:
            counts.failed += 1
            logger.warning(
                "reprocess: delivery %s (%s %s) skipped: %s",
                delivery.pk,
                delivery.platform,
                delivery.event_type,
                type(exc).__name__,
            )
            continue
        setattr(counts, outcome.outcome, getattr(counts, outcome.outcome) + 1)
    return counts


def prune_deliveries(*, now: datetime) -> int:
    """Deletes every tenant's deliveries older than its ``delivery_retention_days``; returns how
    many. One statement per distinct retention, however many tenants."""
    deleted = 0
    retentions = Tenant.objects.values_list("delivery_retention_days", flat=True).distinct()
    for days in sorted(set(retentions)):
        tenants = Tenant.objects.filter(delivery_retention_days=days).values("pk")
        count, _ = WebhookDelivery.objects.filter(
            tenant_id__in=tenants, received_at__lt=now - timedelta(days=days)
        ).delete()
        deleted += count
    return deleted
