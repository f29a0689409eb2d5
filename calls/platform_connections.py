"""Tenants' platform webhook connections: creation, secret rotation, the token lookup of the
receiver, and the delivery bookkeeping shown in the admin.

The URL token is looked up like the Synthflow token (``calls.webhook_credentials``): by its
SHA-256, then compared in constant time, so neither the query nor the comparison times the
token. Signing secrets are stored only encrypted (``calls.encryption``); a rotation keeps the
previous secret valid for ``PLATFORM_SECRET_OVERLAP_HOURS``, because a platform picks up a new
secret some time after it is changed there and signs deliveries queued before with the old one.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from calls.encryption import decrypt_secret, encrypt_secret, reencrypt_secret
from calls.enums import CallPlatform
from calls.models import PlatformConnection, Tenant, hash_webhook_token
from calls.platforms import PLATFORMS, Credentials, Platform

logger = logging.getLogger(__name__)

MAX_SECRET_LENGTH = 1024
# RFC 9110 field-name characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}\Z")


class ConnectionInvalid(ValueError):
    """A connection that cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class NewConnection:
    connection: PlatformConnection
    # The secret Callscope generated, to be shown once; None when the caller gave one.
    generated_secret: str | None


def platform_module(name: str) -> Platform:
    """The module of a platform a connection can be made for. Synthflow has its own webhook
    (tenant token and secret), not a connection."""
    module = PLATFORMS.get(name)
    if module is None or name == CallPlatform.SYNTHFLOW:
        available = ", ".join(sorted(n for n in PLATFORMS if n != CallPlatform.SYNTHFLOW))
        raise ConnectionInvalid(
            f"Unknown platform {name[:40]!r}; available: {available or 'none'}."
        )
    return module


def check_secret(secret: str) -> str:
    """``secret`` when it can be a signing secret; else ``ConnectionInvalid``."""
    if not secret or not secret.strip():
        raise ConnectionInvalid("The secret must not be empty.")
    if len(secret) > MAX_SECRET_LENGTH or "\x00" in secret:
        raise ConnectionInvalid(
            f"The secret must be at most {MAX_SECRET_LENGTH} characters, without NUL."
        )
    return secret


def check_header_name(header_name: str) -> str:
    if header_name and not _HEADER_NAME.match(header_name):
        raise ConnectionInvalid("The header name must be an HTTP header name.")
    return header_name


def _secret_for(module: Platform, secret: str | None) -> tuple[str, str | None]:
    """The secret to store and, when Callscope chose it, the same value to show once."""
    if secret is not None:
        return check_secret(secret), None
    if not module.generates_secret:
        raise ConnectionInvalid(
            f"{module.name} signs with a secret of its own: copy it from {module.name} and "
            "pass it (--secret)."
        )
    generated = secrets.token_urlsafe(32)
    return generated, generated


def create_connection(
    *,
    tenant: Tenant,
    platform: str,
    secret: str | None = None,
    scheme: str = "",
    header_name: str = "",
) -> NewConnection:
    """Connects ``tenant`` to ``platform``. Without ``secret``, one is generated where the
    platform lets the receiver choose it (``generates_secret``), else ``ConnectionInvalid``.
    Raises ``ConnectionInvalid`` for an unknown platform or scheme, a bad header name, or a
    second connection to the same platform."""
    module = platform_module(platform)
    scheme = scheme or module.schemes[0]
    if scheme not in module.schemes:
        raise ConnectionInvalid(
            f"Unknown scheme {scheme[:40]!r} for {platform}; one of {', '.join(module.schemes)}."
        )
    check_header_name(header_name)
    stored, shown = _secret_for(module, secret)
    connection = PlatformConnection(
        tenant=tenant,
        platform=platform,
        scheme=scheme,
        header_name=header_name,
        secret_encrypted=encrypt_secret(stored),
    )
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ConnectionInvalid(
            f"{tenant.slug} is connected to {platform} already; rotate its secret instead."
        ) from None
    logger.info("platform connection created: tenant=%s platform=%s", tenant.slug, platform)
    return NewConnection(connection, shown)


def rotate_secret(
    *, connection: PlatformConnection, secret: str | None = None, now: datetime | None = None
) -> str | None:
    """Replaces the connection's secret (``secret``, or a generated one where the platform
    allows it) and keeps the current one valid for ``PLATFORM_SECRET_OVERLAP_HOURS``. Returns
    the generated secret to show once, or None when ``secret`` was given."""
    module = platform_module(connection.platform)
    stored, shown = _secret_for(module, secret)
    now = now or timezone.now()
    connection.previous_secret_encrypted = connection.secret_encrypted
    connection.previous_secret_expires_at = now + timedelta(
        hours=settings.PLATFORM_SECRET_OVERLAP_HOURS
    )
    connection.secret_encrypted = encrypt_secret(stored)
    connection.secret_rotated_at = now
    connection.save(
        update_fields=[
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "secret_encrypted",
            "secret_rotated_at",
        ]
    )
    logger.info(
        "platform secret rotated: tenant_id=%s platform=%s",
        connection.tenant_id,
        connection.platform,
    )
    return shown


def reencrypt_secrets() -> int:
    """Encrypts every stored secret again under the first ``CALLSCOPE_ENCRYPTION_KEYS`` key
    (after a new key was put first), so the old key can be removed. Returns how many
    connections were rewritten; each row is rewritten under its own lock."""
    count = 0
    for pk in PlatformConnection.objects.values_list("pk", flat=True):
        with transaction.atomic():
            connection = PlatformConnection.objects.select_for_update().get(pk=pk)
            connection.secret_encrypted = reencrypt_secret(connection.secret_encrypted)
            if connection.previous_secret_encrypted:
                connection.previous_secret_encrypted = reencrypt_secret(
                    connection.previous_secret_encrypted
                )
            connection.save(update_fields=["secret_encrypted", "previous_secret_encrypted"])
        count += 1
    return count


def credentials(connection: PlatformConnection, *, now: datetime) -> Credentials:
    """What a delivery to ``connection`` is verified with at ``now``: the current secret, then
    the previous one while its overlap lasts."""
    found = [decrypt_secret(connection.secret_encrypted)]
    expires = connection.previous_secret_expires_at
    if connection.previous_secret_encrypted and expires is not None and now < expires:
        found.append(decrypt_secret(connection.previous_secret_encrypted))
    return Credentials(
        secrets=tuple(found), scheme=connection.scheme, header_name=connection.header_name
    )


def connection_for_token(*, token: str) -> PlatformConnection | None:
    """The connection whose webhook URL carries ``token``, or None."""
    connection = (
        PlatformConnection.objects.select_related("tenant")
        .filter(webhook_token_hash=hash_webhook_token(token))
        .first()
    )
    if connection is None or not hmac.compare_digest(
        connection.webhook_token.encode(), token.encode()
    ):
        return None
    return connection


def webhook_path(connection: PlatformConnection) -> str:
    return reverse(
        "webhook-platform",
        kwargs={"platform": connection.platform, "token": connection.webhook_token},
    )


def record_delivery(*, connection: PlatformConnection, at: datetime) -> None:
    PlatformConnection.objects.filter(pk=connection.pk).update(last_delivery_at=at)


def record_failure(*, connection: PlatformConnection, at: datetime, reason: str) -> None:
    """Counts a refused delivery (one atomic increment; concurrent failures all count)."""
    PlatformConnection.objects.filter(pk=connection.pk).update(
        failure_count=F("failure_count") + 1,
        last_failure_at=at,
        last_failure_reason=reason[:200],
    )
