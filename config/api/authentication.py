"""API key authentication: ``Authorization: Bearer cs_…``.

The tenant of every API request comes from its key and from nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from calls.models import API_KEY_PREFIX, ApiKey, Tenant, hash_api_key
from config.api.exemptions import without_statement_limit


@dataclass(frozen=True)
class TenantPrincipal:
    """Stands in for ``request.user`` on API requests: the tenant the key belongs to."""

    tenant: Tenant
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> int:
        return self.tenant.pk


def api_key_from_header(authorization: bytes) -> ApiKey:
    """The active key (with its tenant) an ``Authorization: Bearer <key>`` header value names.

    Raises ``NotAuthenticated`` when the header is missing and ``AuthenticationFailed`` when it
    is malformed or names an unknown or revoked key. Shared by the REST APIs and the WebSocket
    handshake (``config.live.auth``)."""
    header = authorization.split()
    if not header:
        raise exceptions.NotAuthenticated("Missing Authorization header (Bearer <api key>).")
    if header[0].lower() != ApiKeyAuthentication.keyword.lower().encode() or len(header) != 2:
        raise exceptions.AuthenticationFailed(
            "Malformed Authorization header: expected 'Bearer <api key>'."
        )
    try:
        raw_key = header[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("Malformed API key.") from None
    if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 200:
        raise exceptions.AuthenticationFailed("Malformed API key.")

    with without_statement_limit():
        key = ApiKey.objects.select_related("tenant").filter(key_hash=hash_api_key(raw_key)).first()
    if key is None or not key.is_active:
        # Unknown and revoked keys are indistinguishable to the caller.
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    return key


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TenantPrincipal, ApiKey]:
        key = api_key_from_header(get_authorization_header(request))
        self._touch(key)
        return TenantPrincipal(tenant=key.tenant), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _touch(key: ApiKey) -> None:
        now = timezone.now()
        if key.last_used_at and now - key.last_used_at < ApiKey.LAST_USED_RESOLUTION:
            return
        # Conditional update: concurrent requests write it once, and no read-modify-write.
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - ApiKey.LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now


class HasTenantApiKey(BasePermission):
    """Passes only requests authenticated by an active API key."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)
