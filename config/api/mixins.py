"""Tenant scoping for the API: the only place it happens."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import exceptions
from rest_framework.views import APIView

from calls.models import ApiKey, Tenant


class TenantScopedMixin:
    """Resolves the tenant from the request's API key and scopes every queryset to it.

    Fails closed: without an API key there is no tenant, and ``tenant`` raises instead of
    returning ``None``; ``get_queryset`` refuses a model without a tenant path.
    """

    request: Any
    # Path from the view's model to its tenant, for child models (e.g. "call__tenant").
    tenant_field: str = "tenant"

    @property
    def tenant(self) -> Tenant:
        auth = getattr(self.request, "auth", None)
        if not isinstance(auth, ApiKey):
            raise exceptions.NotAuthenticated()
        return auth.tenant

    def get_queryset(self) -> QuerySet[Any]:
        queryset: QuerySet[Model] = super().get_queryset()  # type: ignore[misc]
        return queryset.filter(**{self.tenant_field: self.tenant})


class TenantAPIView(TenantScopedMixin, APIView):
    """Base for tenant-owned API views that are not model viewsets (analytics, ingestion)."""

    # The error body family: "platform" ({"detail": ...}), "synthflow" or "sales".
    error_family = "platform"
