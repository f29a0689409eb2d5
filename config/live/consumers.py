"""The base of every stream: authentication, parameters, limits, heartbeat and close codes.

A connection is always accepted first and then, when it may not stay, told why in an
``{"type": "error", "code", "detail"}`` message and closed with that code and the detail as the
close reason (daphne drops close reasons, and a refusal before the upgrade would reach a browser
as a bare failure):

- ``4400``: a query parameter is unknown, repeated or invalid (``detail`` names it);
- ``4401``: missing, malformed, unknown, revoked or expired credentials, an expired or used
  ticket, or access lost while connected (re-checked every ``LIVE_AUTH_RECHECK_SECONDS``:
  revocation, expiry, or a key's scope no longer allowing reads);
- ``4403``: an API key whose scope does not allow reading (an ``ingest`` key);
- ``4429``: the tenant already has ``LIVE_MAX_CONNECTIONS_PER_TENANT`` open connections.

Every message is a JSON object with ``type``, ``timezone`` (the tenant's zone, or the one the
stream was asked for) and ``as_of``; a ``heartbeat`` message goes out every
``LIVE_HEARTBEAT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.api.params import unknown_parameters
from config.live import limits
from config.live.auth import LiveAuth, LivePrincipal
from config.live.publish import group_name

logger = logging.getLogger(__name__)

BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
TOO_MANY = 4429
CLOSE_CODES = {
    BAD_REQUEST: "a query parameter is unknown, repeated or invalid",
    UNAUTHORIZED: "not authenticated, or access revoked while connected",
    FORBIDDEN: "the API key's scope does not allow reading",
    TOO_MANY: "too many open connections for the tenant",
}
# Parameters any stream takes besides its own: the browser's ticket.
AUTH_PARAMS = frozenset({"ticket"})
MAX_PARAM_LENGTH = 200
MAX_CLOSE_REASON_BYTES = 123


class StreamParamError(Exception):
    """A bad query parameter; the message names it."""


def close_reason(detail: str) -> str:
    """``detail`` cut to what a WebSocket close frame carries (123 bytes of UTF-8)."""
    return detail.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


def iso_utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TenantStreamConsumer(AsyncJsonWebsocketConsumer):
    """A stream of one tenant's events. Subclasses name their ``streams`` (the tenant's groups
    they join), read their parameters in ``read_params`` and send the first message in
    ``opened``; group messages arrive at handlers named after their ``type``."""

    streams: tuple[str, ...] = ()
    params: frozenset[str] = frozenset()

    principal: LivePrincipal
    zone: zoneinfo.ZoneInfo

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except RedisTimeoutError:
            # Once the client has gone, Channels cancels the consumer's pending read of the
            # channel layer; redis-py reports that cancellation as its own TimeoutError, which
            # daphne would log as a crash of the application (and answer 1011 to a client still
            # closing). A stream already closed has nothing left to do; any other is a failure.
            if not getattr(self, "_closed", False):
                raise

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            # Logged here: Channels then cancels the consumer's pending channel-layer read, and
            # redis-py's TimeoutError for that cancellation replaces this error in daphne's log.
            logger.exception("live stream handler failed: %s", message.get("type"))
            raise

    async def connect(self) -> None:
        self._joined: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lease: limits.Lease | None = None
        self._closed = False
        await self.accept()
        auth: LiveAuth | None = self.scope.get("live_auth")
        if auth is None or auth.principal is None:
            code = auth.code if auth else UNAUTHORIZED
            await self.refuse(code, auth.error if auth else "Not authenticated.")
            return
        self.principal = auth.principal
        self.zone = zoneinfo.ZoneInfo(self.principal.tenant_zone)
        try:
            await self.read_params(self._query())
        except StreamParamError as exc:
            await self.refuse(BAD_REQUEST, str(exc))
            return
        lease = await sync_to_async(limits.claim)(self.principal.tenant_id)
        if lease is None:
            await self.refuse(
                TOO_MANY,
                f"The tenant has {settings.LIVE_MAX_CONNECTIONS_PER_TENANT} open connections, "
                "the most allowed.",
            )
            return
        self._lease = lease
        for stream in self.streams:
            group = group_name(self.principal.tenant_id, stream)
            await self.channel_layer.group_add(group, self.channel_name)
            self._joined.append(group)
        await self.opened()
        self._tasks = [
            asyncio.create_task(self._heartbeats()),
            asyncio.create_task(self._rechecks()),
        ]

    def _query(self) -> dict[str, str]:
        raw = parse_qs(
            self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        )
        unknown = sorted(set(raw) - self.params - AUTH_PARAMS)
        if unknown:
            raise StreamParamError(unknown_parameters(unknown, self.params))
        values: dict[str, str] = {}
        for name, given in raw.items():
            if name in AUTH_PARAMS:
                continue
            if len(given) > 1:
                raise StreamParamError(f"{name}: given more than once.")
            value = given[0]
            if "\x00" in value or len(value) > MAX_PARAM_LENGTH or not value.strip():
                raise StreamParamError(f"{name}: invalid value.")
            values[name] = value
        return values

    async def read_params(self, params: dict[str, str]) -> None:
        """Validates the stream's parameters; raises ``StreamParamError`` naming a bad one."""

    async def opened(self) -> None:
        """Sends the stream's first message."""

    # --- messages ------------------------------------------------------------------------------

    def envelope(self, type_: str, *, as_of: str | None = None, **fields: Any) -> dict[str, Any]:
        return {
            "type": type_,
            "timezone": self.zone.key,
            "as_of": as_of or iso_utc(timezone.now()),
            **fields,
        }

    async def send_message(self, type_: str, *, as_of: str | None = None, **fields: Any) -> None:
        if not self._closed:
            await self.send_json(self.envelope(type_, as_of=as_of, **fields))

    async def refuse(self, code: int, detail: str) -> None:
        """Tells the client why, then closes with ``code``."""
        if self._closed:
            return
        zone = getattr(self, "zone", None)
        await self.send_json(
            {
                "type": "error",
                "timezone": zone.key if zone else "UTC",
                "as_of": iso_utc(timezone.now()),
                "code": code,
                "detail": detail,
            }
        )
        self._closed = True
        await self.close(code, reason=close_reason(detail))

    # --- background duties -----------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(settings.LIVE_HEARTBEAT_SECONDS)
            await self.send_message("heartbeat")
            if self._lease is not None:
                self._lease = await sync_to_async(limits.renew)(
                    self.principal.tenant_id, self._lease
                )

    async def _rechecks(self) -> None:
        while True:
            await asyncio.sleep(settings.LIVE_AUTH_RECHECK_SECONDS)
            allowed = await database_sync_to_async(self.principal.still_allowed)()
            if not allowed:
                await self.refuse(UNAUTHORIZED, "The credentials were revoked.")
                return

    async def disconnect(self, code: int) -> None:
        self._closed = True
        current = asyncio.current_task()
        for task in getattr(self, "_tasks", []):
            if task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for group in getattr(self, "_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        lease = getattr(self, "_lease", None)
        if lease is not None:
            self._lease = None
            await sync_to_async(limits.release)(self.principal.tenant_id, lease)
