"""Synthflow post-call deliveries: the call upsert, limited to what a replayed delivery can do.

Synthflow signs only the call id, so every delivery of a call carries the same signature, and
whoever holds one delivery (a log, a proxy, a retry queue) can send any body with it. Once a
delivery has written a call (``SynthflowDelivery``), a later delivery of that call is applied
only when it is

- the body applied last (compared by canonical hash): outcome ``unchanged``, nothing written,
  not even re-applied, since re-applying it would undo later writes through the API; or
- later in the call's lifecycle: its status ranks above the stored one (``STATUS_RANK``), as a
  genuine next delivery of the call does: applied like any upsert.

Anything else, a rewritten body with the same (or an earlier) status, is ``ignored``: every
stored row stays as it was and a warning is logged. It is answered 200, not 409, as Stripe and
Standard Webhooks receivers answer a delivery they have handled: the refusal is final, and a
non-2xx answer would only make the platform retry the same body (and count failures against the
endpoint) until it gives up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.utils import timezone

from calls.documents import CallDocument
from calls.enums import STATUS_RANK
from calls.models import Call, SynthflowDelivery, Tenant
from calls.retry import atomic_with_retry
from calls.services import MAX_ATTEMPTS, canonical_hash, ingest_call_documents, parse_documents
from calls.webhooks import webhook_to_document

logger = logging.getLogger(__name__)

DeliveryOutcomeName = Literal["created", "updated", "unchanged", "ignored"]


@dataclass(frozen=True)
class DeliveryOutcome:
    call_id: str
    outcome: DeliveryOutcomeName


def ingest_synthflow_delivery(*, tenant: Tenant, payload: dict[str, Any]) -> DeliveryOutcome:
    """Upserts the call of a verified post-call webhook ``payload`` for ``tenant``, unless the
    call was written by an earlier delivery and this one is neither that delivery again nor
    later in the call's lifecycle (see the module docstring).

    Raises ``calls.services.DocumentsInvalid`` before writing when the payload's call document
    is invalid.
    """
    document = webhook_to_document(payload)
    (parsed,) = parse_documents([document])
    body_hash = canonical_hash(payload)
    # The decision and the write share one transaction holding the call's row lock. When two
    # first deliveries of a call race, the loser's delivery row collides with the winner's and
    # the whole transaction runs again, now deciding against the winner's delivery.
    return atomic_with_retry(
        lambda: _deliver(tenant, document, parsed.doc, body_hash), attempts=MAX_ATTEMPTS
    )


def _deliver(
    tenant: Tenant, document: dict[str, Any], doc: CallDocument, body_hash: str
) -> DeliveryOutcome:
    call = (
        Call.objects.select_for_update()
        .filter(tenant=tenant, call_id=doc.call_id)
        .only("pk", "status")
        .first()
    )
    seen = SynthflowDelivery.objects.filter(call=call).first() if call is not None else None
    if call is not None and seen is not None:
        if seen.body_hash == body_hash:
            return DeliveryOutcome(doc.call_id, "unchanged")
        if STATUS_RANK[doc.status] <= STATUS_RANK[call.status]:
            logger.warning(
                "synthflow delivery ignored: tenant=%s call_id=%s status=%s stored_status=%s "
                "(a different body under the call's signature, not later in its lifecycle)",
                tenant.slug,
                doc.call_id,
                doc.status,
                call.status,
            )
            return DeliveryOutcome(doc.call_id, "ignored")

    (outcome,) = ingest_call_documents(tenant=tenant, documents=[document])
    if seen is None:
        call_pk = Call.objects.filter(tenant=tenant, call_id=doc.call_id).values_list(
            "pk", flat=True
        )[0]
        SynthflowDelivery.objects.create(
            call_id=call_pk, body_hash=body_hash, applied_at=timezone.now()
        )
    else:
        SynthflowDelivery.objects.filter(pk=seen.pk).update(
            body_hash=body_hash, applied_at=timezone.now()
        )
    return DeliveryOutcome(doc.call_id, outcome.outcome)
