"""Who a WebSocket connection is: an API key, or a single-use ticket.

A ticket is a random token whose SHA-256 names a cache entry holding the principal it was issued
to; redeeming it deletes the entry, and only the connection whose ``delete`` removed it is let in
(``cache.delete`` is atomic on Redis, and on the local-memory cache of the embedded default,
where one process both issues the ticket over HTTP and serves the WebSocket). A ticket works once,
for ``LIVE_TICKET_TTL_SECONDS``; only its hash is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework import exceptions

from calls.models import ApiKey, Tenant, TenantMembership, scopes_granting
from config.api.authentication import ApiKeyAuthentication, api_key_from_header, scope_refusal

TICKET_PREFIX = "cst_"
TICKET_MAX_LENGTH = 100


@dataclass(frozen=True)
class LivePrincipal:
    """What a connection is authenticated as: one tenant, through an API key or a staff user.
    The tenant comes from the credentials, never from the request."""

    tenant_id: int
    tenant_zone: str
    key_id: int | None = None
    user_id: int | None = None

    def still_allowed(self) -> bool:
        """Whether the credentials still grant access (the key neither revoked nor expired and
        its scope still allowing reads, the user still active staff of the tenant)."""
        if self.key_id is not None:
            # Not revoked, not expired, and still allowed to read (a stream is a read).
            return (
                ApiKey.objects.active()
                .filter(pk=self.key_id, tenant_id=self.tenant_id, scope__in=scopes_granting("read"))
                .exists()
            )
        if self.user_id is not None:
            return user_may_view(self.user_id, self.tenant_id)
        return False


def user_may_view(user_id: int, tenant_id: int) -> bool:
    """Whether the admin user may see the tenant's data (as ``config.admin.scoping`` decides)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if user is None:
        return False
    if user.is_superuser:
        return Tenant.objects.filter(pk=tenant_id).exists()
    return TenantMembership.objects.filter(user_id=user_id, tenant_id=tenant_id).exists()


@dataclass(frozen=True)
class LiveAuth:
    """The handshake's outcome: a principal, or why there is none."""

    principal: LivePrincipal | None
    error: str = ""
    # The close code of a refusal: 4401 (no valid credentials) or 4403 (a valid key whose
    # scope does not allow reading).
    code: int = 4401


def _ticket_key(ticket: str) -> str:
    return "live:ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(principal: LivePrincipal) -> str:
    """A new single-use ticket for ``principal``."""
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    stored = cache.add(_ticket_key(ticket), principal, settings.LIVE_TICKET_TTL_SECONDS)
    if not stored:  # 256 random bits never collide; a cache refusing the write is an outage.
        raise RuntimeError("the live ticket could not be stored")
    return ticket


def redeem_ticket(ticket: str) -> LivePrincipal | None:
    """The principal of an unused, unexpired ticket, which can then never be used again."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > TICKET_MAX_LENGTH:
        return None
    key = _ticket_key(ticket)
    principal = cache.get(key)
    # Of concurrent redemptions only the one whose delete removed the entry wins.
    if not isinstance(principal, LivePrincipal) or not cache.delete(key):
        return None
    return principal


def principal_of_key(key: ApiKey) -> LivePrincipal:
    return LivePrincipal(tenant_id=key.tenant_id, tenant_zone=key.tenant.timezone, key_id=key.pk)


def authenticate(headers: dict[bytes, bytes], query_string: bytes) -> LiveAuth:
    """The handshake's principal from its ``Authorization`` header or its ``ticket``."""
    authorization = headers.get(b"authorization")
    tickets = parse_qs(query_string.decode("latin-1")).get("ticket", [])
    if authorization is not None and tickets:
        return LiveAuth(None, "Send either an Authorization header or a ticket, not both.")
    if authorization is not None:
        try:
            key = api_key_from_header(authorization)
        except exceptions.APIException as exc:
            return LiveAuth(None, str(exc.detail))
        if not key.grants("read"):
            return LiveAuth(None, scope_refusal(key, "read"), code=4403)
        ApiKeyAuthentication._touch(key)
        return LiveAuth(principal_of_key(key))
    if len(tickets) == 1:
        principal = redeem_ticket(tickets[0])
        if principal is None or not principal.still_allowed():
            return LiveAuth(None, "Invalid, expired or already used ticket.")
        return LiveAuth(principal)
    if tickets:
        return LiveAuth(None, "Send one ticket.")
    return LiveAuth(
        None, "Missing credentials: an Authorization header (Bearer <api key>) or a ticket."
    )


class LiveAuthMiddleware:
    """Puts the handshake's ``LiveAuth`` in ``scope["live_auth"]``; the consumer refuses a
    connection without a principal (close code 4401, or 4403 for a key that may not read), so
    that the client learns why."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers", []))
            auth = await database_sync_to_async(authenticate)(
                headers, scope.get("query_string", b"")
            )
            scope = {**scope, "live_auth": auth}
        return await self.inner(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses a handshake whose ``Origin`` (sent by every browser) is not one of
    ``ALLOWED_HOSTS``; clients that send none (scripts with an API key) pass. The streams
    authenticate without cookies, so this is a second guard, not the first."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=_allowed_origins())

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


def _allowed_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    # As Django's own host check does in debug with no ALLOWED_HOSTS set.
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts
