"""Encryption at rest of the platform signing secrets Callscope must keep in the clear to verify
HMACs (``PlatformConnection``), with ``cryptography``'s Fernet (AES-128-CBC plus HMAC-SHA256,
authenticated; a tampered or foreign token fails to decrypt).

Keys come from ``CALLSCOPE_ENCRYPTION_KEYS`` (comma-separated; the first encrypts, all decrypt,
through ``MultiFernet``). The settings derive a development key from ``SECRET_KEY`` in DEBUG
only; without DEBUG, no key is an ``ImproperlyConfigured`` error at first use, never a silent
fallback.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts (the key that wrote it was
    removed, or the value was altered)."""


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "CALLSCOPE_ENCRYPTION_KEYS must be set (a Fernet key, e.g. from "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`) to store platform webhook secrets."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ImproperlyConfigured(
                f"CALLSCOPE_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(url-safe base64 of 32 bytes)."
            ) from None
    return MultiFernet(fernets)


def cipher() -> MultiFernet:
    """The configured cipher; raises ``ImproperlyConfigured`` when there is none."""
    return _cipher(tuple(settings.CALLSCOPE_ENCRYPTION_KEYS))


def encrypt_secret(plain: str) -> str:
    return cipher().encrypt(plain.encode()).decode()


def decrypt_secret(token: str) -> str:
    """Raises ``SecretUnreadable`` when no configured key decrypts ``token``."""
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured encryption key decrypts this secret") from None


def reencrypt_secret(token: str) -> str:
    """``token`` encrypted under the first configured key (after a key was put first)."""
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured encryption key decrypts this secret") from None
