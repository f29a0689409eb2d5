"""API key lifecycle: create (the raw key is returned once) and revoke."""

from __future__ import annotations

import secrets

from django.utils import timezone

from calls.models import API_KEY_PREFIX, API_KEY_PUBLIC_PREFIX_LENGTH, ApiKey, Tenant, hash_api_key


def generate_raw_key() -> str:
    # 32 random bytes, URL-safe base64: 43 characters after the prefix.
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(*, tenant: Tenant, name: str = "") -> tuple[ApiKey, str]:
    """Creates a key for ``tenant``. Returns the stored key and the raw secret, which is not kept
    anywhere and cannot be shown again."""
    raw = generate_raw_key()
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=raw[:API_KEY_PUBLIC_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
    )
    return key, raw


def revoke_api_key(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
