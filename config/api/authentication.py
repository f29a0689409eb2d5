"""API key authentication: ``Authorization: Bearer cs_…``.

The tenant of every API request comes from its key and from nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from calls.models import API_KEY_PREFIX, ApiKey, Tenant, hash_api_key
from config.api.exemptions import without_statement_limit
from config.statements import compiled, queryset_statement, run


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
        key = key_with_tenant(hash_api_key(raw_key))
    if key is None or key.revoked_at is not None:
        # Unknown and revoked keys are indistinguishable to the caller.
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    if key.is_expired:
        # Said plainly: the caller holds the key, and an expiry is scheduled, not a verdict.
        raise exceptions.AuthenticationFailed("API key expired.")
    return key


def _keys_by_hash(key_hash: str) -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("tenant").filter(key_hash=key_hash).order_by()[:1]


# The columns of the statement of ``_keys_by_hash``, in order: the key's, then its tenant's.
_KEY_COLUMNS = [field.attname for field in ApiKey._meta.concrete_fields]
_TENANT_COLUMNS = [field.attname for field in Tenant._meta.concrete_fields]


def key_with_tenant(key_hash: str) -> ApiKey | None:
    """The key whose hash is ``key_hash``, with its tenant, or ``None``.

    Every API request and stream asks this once. On PostgreSQL its statement is compiled once
    (``config.statements``) and the two objects are made from its row, as Django's
    ``select_related`` would make them (none of their columns has a converter on PostgreSQL).
    """
    if connection.vendor != "postgresql":
        return next(iter(_keys_by_hash(key_hash)), None)
    rows = run(
        compiled(
            "api_key_with_tenant", lambda v: queryset_statement(_keys_by_hash(v[0])), [key_hash]
        )
    )
    if not rows:
        return None
    row, split = rows[0], len(_KEY_COLUMNS)
    key = ApiKey.from_db(connection.alias, _KEY_COLUMNS, row[:split])
    key.tenant = Tenant.from_db(connection.alias, _TENANT_COLUMNS, row[split:])
    return key


def required_permission(view: Any, method: str) -> str:
    """The key permission (``read`` or ``ingest``) a request of ``method`` to ``view`` needs:
    the view's ``api_key_permission`` when it names one (a POST that only reads, such as a live
    ticket), else ``read`` for GET, HEAD and OPTIONS and ``ingest`` for every other method, so a
    write nobody classified needs the write permission."""
    declared = getattr(view, "api_key_permission", None)
    if declared is not None:
        return str(declared)
    return "read" if method in SAFE_METHODS else "ingest"


def scope_refusal(key: ApiKey, permission: str) -> str:
    """Why ``key`` may not do what ``permission`` allows (the 403's message)."""
    action = "read" if permission == "read" else "write (ingest)"
    return (
        f"This API key's scope is {key.scope!r}: it may not {action}. "
        f"Use a key whose scope is {permission!r} or 'all'."
    )


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
    """Passes only requests authenticated by an active API key whose scope grants what the
    request does (``required_permission``); any other key gets a 403 that says why."""

    message = "This API key may not make this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        permission = required_permission(view, request.method or "")
        if key.grants(permission):
            return True
        # DRF reads the permission's ``message`` for the 403 body.
        self.message = scope_refusal(key, permission)
        return False
