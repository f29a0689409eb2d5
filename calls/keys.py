"""API key lifecycle: create (the raw key is returned once) and revoke."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from django.utils import timezone

from calls.models import (
    API_KEY_PREFIX,
    API_KEY_PUBLIC_PREFIX_LENGTH,
    ApiKey,
    ApiKeyScope,
    Tenant,
    hash_api_key,
)


def generate_raw_key() -> str:
    # 32 random bytes, URL-safe base64: 43 characters after the prefix.
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    *,
    tenant: Tenant,
    name: str = "",
    scope: str = ApiKeyScope.ALL,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key for ``tenant`` with ``scope`` (an ``ApiKeyScope``), expiring at
    ``expires_at`` (never when ``None``; a past instant makes a key refused from the start).
    Returns the stored key and the raw secret, which is not kept anywhere and cannot be shown
    again."""
    if scope not in ApiKeyScope.values:
        raise ValueError(f"unknown API key scope {scope!r}; expected one of {ApiKeyScope.values}")
    if expires_at is not None and timezone.is_naive(expires_at):
        raise ValueError("expires_at must be an aware datetime")
    raw = generate_raw_key()
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=raw[:API_KEY_PUBLIC_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        scope=scope,
        expires_at=expires_at,
    )
    return key, raw


def revoke_api_key(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def format_expiry(expires_at: datetime) -> str:
    """An expiry as people read it wherever a key is created: in UTC, and saying so
    ("2027-01-31 12:00 UTC"), since that is how it was entered."""
    return f"{expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
