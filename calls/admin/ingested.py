"""The base of the calls app's read-only admins of ingested tables (calls and what they carry,
leads, agents, workflows, activity events, error logs), sized for millions of rows."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from calls.admin_filters import ScopedRelatedFieldListFilter
from calls.paginators import EstimatedCountPaginator
from config.admin.scoping import ReadOnlyMixin, TenantScopedAdminMixin, sees_several_tenants


def pretty_json(value: Any) -> str:
    """A JSON value as an indented, escaped block (styled as preformatted text)."""
    if value in (None, "", [], {}):
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<span class="cs-json">{}</span>', text)


class LargeTableChangeList(ChangeList):
    """Leaves the model admin's ``list_defer`` columns (large JSON and text) out of list pages,
    and keeps the request for the template tags that need the user's tenants."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(request, *args, **kwargs)

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = getattr(self.model_admin, "list_defer", ())
        return queryset.defer(*deferred) if deferred else queryset


class IngestedAdmin(TenantScopedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Base for the read-only admins of ingested tables, sized for millions of rows: no full
    counts (estimating paginator, no full result count, no facet counts), heavy columns deferred
    in lists, and a tenant column and filter for users who see several tenants."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    list_defer: ClassVar[tuple[str, ...]] = ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargeTableChangeList

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if self.tenant_path == "tenant" and sees_several_tenants(request):
            columns.insert(1, "tenant")
        return columns

    def get_list_select_related(self, request: HttpRequest) -> Any:
        related = super().get_list_select_related(request)
        if self.tenant_path == "tenant" and sees_several_tenants(request):
            if related is True:
                return related
            return [*(related or ()), "tenant"]
        return related

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if self.tenant_path == "tenant" and sees_several_tenants(request):
            filters.append(("tenant", ScopedRelatedFieldListFilter))
        return filters


class IngestedInline(TenantScopedAdminMixin, ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """A read-only inline of a call's children: no extra forms, no add or delete."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or ()
