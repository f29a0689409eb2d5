"""A tenant's Synthflow webhook credentials: the URL token and the signing secret.

Both are secrets. The token is found by its SHA-256 (``Tenant.webhook_token_hash``) and then
compared in constant time, so neither the database lookup nor the comparison times the token
itself. Rotating either one ends the old value at once: there is no overlap, because a rotation
usually answers a leak, and an overlap would keep the leaked value working.
"""

from __future__ import annotations

import hmac
import logging

from calls.models import Tenant, hash_webhook_token

logger = logging.getLogger(__name__)


def tenant_for_webhook_token(*, token: str) -> Tenant | None:
    """The tenant whose webhook URL carries ``token``, or None."""
    tenant = Tenant.objects.filter(webhook_token_hash=hash_webhook_token(token)).first()
    if tenant is None or not hmac.compare_digest(tenant.webhook_token.encode(), token.encode()):
        return None
    return tenant


def rotate_webhook_token(*, tenant: Tenant) -> str:
    """Gives ``tenant`` a new webhook URL token and returns it; the old URL answers 404 from now
    on, like any unknown one."""
    tenant.webhook_token = Tenant._meta.get_field("webhook_token").get_default()
    tenant.save(update_fields=["webhook_token"])
    logger.info("webhook token rotated: tenant=%s", tenant.slug)
    return tenant.webhook_token


def rotate_webhook_secret(*, tenant: Tenant) -> str:
    """Gives ``tenant`` a new webhook signing secret and returns it; deliveries signed with the
    old one answer 401 from now on."""
    tenant.webhook_secret = Tenant._meta.get_field("webhook_secret").get_default()
    tenant.save(update_fields=["webhook_secret"])
    logger.info("webhook secret rotated: tenant=%s", tenant.slug)
    return tenant.webhook_secret
