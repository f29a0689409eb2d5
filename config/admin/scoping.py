"""Tenant scoping and permissions, shared by every admin (the calls app's and analytics').

Who sees what:

- **Superusers** see every tenant. Only they add or change tenants and memberships.
- **Tenant staff** are active users with ``is_staff`` and at least one ``TenantMembership``. The
  membership is what grants read access: a tenant staff user can view every admin page of the
  calls app, restricted to the tenants they belong to, without any Django model permission.
  (Per-model view permissions would be a second switch that must agree with the membership, and a
  staff user granted them without a membership would still see nothing.)
- **Writes** need a Django permission on top of the membership; the only writes open to tenant
  staff are creating API keys (``calls.add_apikey``) and revoking them (``calls.change_apikey``).
- **Ingested data** (calls and everything they carry, leads, agents, workflows, activity events,
  error logs) is read-only for everyone, superusers included: it changes only through ingestion.
- A staff user without a membership sees nothing of the calls app or of analytics.

Scoping happens in one place, ``TenantScopedAdminMixin``, and fails closed: an admin that does
not say how its rows reach a tenant fails Django's system checks, and a user who belongs to no
tenant gets empty querysets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.admin.utils import get_fields_from_path
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest

from calls.models import Tenant, TenantMembership

if TYPE_CHECKING:
    from django.contrib.admin.options import BaseModelAdmin

    _AdminBase = BaseModelAdmin[Any]
else:
    _AdminBase = object

_TENANT_IDS_ATTR = "_callscope_admin_tenant_ids"


def visible_tenant_ids(request: HttpRequest) -> frozenset[int] | None:
    """The ids of the tenants ``request.user`` may see in the admin, or ``None`` for all of them
    (superusers). Read once per request."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return frozenset()
    if user.is_superuser:
        return None
    cached: frozenset[int] | None = getattr(request, _TENANT_IDS_ATTR, None)
    if cached is None:
        cached = frozenset(
            TenantMembership.objects.filter(user_id=user.pk).values_list("tenant_id", flat=True)
        )
        setattr(request, _TENANT_IDS_ATTR, cached)
    return cached


def can_view_tenant_data(request: HttpRequest) -> bool:
    """Superusers, and staff users who belong to at least one tenant."""
    ids = visible_tenant_ids(request)
    return ids is None or bool(ids)


_FIRST_TENANTS_ATTR = "_callscope_admin_first_tenant_ids"


def _tenants_in_sight(request: HttpRequest) -> list[int]:
    """Up to two ids of the tenants ``request.user`` may see: enough to tell none, one and
    several apart without counting every tenant. Read once per request."""
    ids = visible_tenant_ids(request)
    if ids is not None:
        return sorted(ids)[:2]
    cached: list[int] | None = getattr(request, _FIRST_TENANTS_ATTR, None)
    if cached is None:
        cached = list(Tenant.objects.order_by("pk").values_list("pk", flat=True)[:2])
        setattr(request, _FIRST_TENANTS_ATTR, cached)
    return cached


def sole_tenant_id(request: HttpRequest) -> int | None:
    """The id of the one tenant ``request.user`` may see, when there is exactly one: a staff
    user's only membership, or for a superuser the installation's only tenant (the usual
    self-hosted case); ``None`` when the user sees several tenants or none."""
    ids = _tenants_in_sight(request)
    return ids[0] if len(ids) == 1 else None


def sees_several_tenants(request: HttpRequest) -> bool:
    """Whether lists should say which tenant each row belongs to: the user may see more than
    one tenant, and more than one exists."""
    return len(_tenants_in_sight(request)) > 1


class TenantScopedAdminMixin(_AdminBase):
    """Restricts an admin (model admin or inline) to the tenants the user belongs to.

    ``tenant_path`` is the ORM path from the model to its tenant: ``"tenant"``, ``"call__tenant"``,
    or ``"pk"`` for ``Tenant`` itself. It applies to:

    - ``get_queryset``, and with it the changelist, the change page, actions, inline rows,
      autocomplete answers (Django's autocomplete view asks the target admin's ``get_queryset``)
      and raw-id popups (the target's changelist);
    - foreign-key choices in forms (``formfield_for_foreignkey``): the target admin's scoped
      queryset, so a form cannot point at another tenant's row;
    - ``get_object``: another tenant's object is a 404, indistinguishable from a missing one
      (Django's default would redirect with a "doesn't exist" message).
    """

    tenant_path: ClassVar[str | None] = None

    def tenant_ids(self, request: HttpRequest) -> frozenset[int] | None:
        return visible_tenant_ids(request)

    def visible_tenants(self, request: HttpRequest) -> QuerySet[Tenant]:
        ids = visible_tenant_ids(request)
        tenants = Tenant.objects.all()
        return tenants if ids is None else tenants.filter(pk__in=ids)

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.tenant_path:
            return queryset.none()
        ids = visible_tenant_ids(request)
        if ids is None:
            return queryset
        if not ids:
            return queryset.none()
        return queryset.filter(**{f"{self.tenant_path}__in": sorted(ids)})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scope_queryset(request, super().get_queryset(request))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} matches the given id.")
        return obj

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if "queryset" not in kwargs:
            target = db_field.remote_field.model
            target_admin = self.admin_site._registry.get(target)
            if isinstance(target_admin, TenantScopedAdminMixin):
                kwargs["queryset"] = target_admin.get_queryset(request)
            elif target is Tenant:
                kwargs["queryset"] = self.visible_tenants(request)
            elif any(f.name == "tenant" for f in target._meta.get_fields()):
                ids = visible_tenant_ids(request)
                if ids is not None:
                    kwargs["queryset"] = target._default_manager.filter(tenant__in=sorted(ids))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_tenant_path()]

    def _check_tenant_path(self) -> list[checks.CheckMessage]:
        label = type(self).__qualname__
        if not self.tenant_path:
            return [
                checks.Error(
                    f"{label} must set tenant_path (how {self.model.__name__} reaches a tenant).",
                    obj=type(self),
                    id="calls.E001",
                )
            ]
        if self.tenant_path == "pk":
            ok = issubclass(self.model, Tenant)  # Tenant or a proxy of it
        else:
            try:
                field = get_fields_from_path(self.model, self.tenant_path)[-1]
            except (FieldDoesNotExist, AttributeError):
                ok = False
            else:
                ok = field.is_relation and field.related_model is Tenant
        if ok:
            return []
        return [
            checks.Error(
                f"{label}.tenant_path {self.tenant_path!r} does not lead from "
                f"{self.model.__name__} to Tenant.",
                obj=type(self),
                id="calls.E002",
            )
        ]


class TenantMemberViewMixin(_AdminBase):
    """View (and app index) access for superusers and for staff with a membership."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view_tenant_data(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view_tenant_data(request)


class ReadOnlyMixin(TenantMemberViewMixin):
    """Ingested data: viewable by tenant members, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
