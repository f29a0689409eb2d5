"""The base of the calls app's read-only admins of ingested tables (calls and what they carry,
leads, agents, workflows, activity events, error logs), sized for millions of rows."""

from __future__ import annotations

import json
import zoneinfo
from typing import Any, ClassVar, Literal

from django.contrib import admin
from django.contrib.admin.options import IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from calls.admin_filters import TENANT_FILTER_PARAM, ScopedRelatedFieldListFilter
from calls.models import Tenant
from calls.paginators import EstimatedCountPaginator
from config.admin.scoping import (
    ReadOnlyMixin,
    TenantScopedAdminMixin,
    sees_several_tenants,
    sole_tenant_id,
)


def pretty_json(value: Any) -> str:
    """A JSON value as an indented, escaped block (styled as preformatted text)."""
    if value in (None, "", [], {}):
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<span class="cs-json">{}</span>', text)


UTC_ZONE = zoneinfo.ZoneInfo("UTC")


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    """A tenant's zone by its stored name; UTC when there is none (or it is no longer known)."""
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC_ZONE
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


# The list's query parameters that do not change which rows it shows.
_NOT_NARROWING = frozenset({ORDER_VAR, IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR})


def _reversed(field: str) -> str:
    return field[1:] if field.startswith("-") else f"-{field}"


class LargeTableChangeList(ChangeList):
    """Leaves the model admin's ``list_defer`` columns (large JSON and text) out of list pages,
    keeps the request for the template tags that need the user's tenants, and sorts only as
    ``list_orderings`` allow."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(request, *args, **kwargs)

    @property
    def is_narrowed(self) -> bool:
        """Whether a search or a filter (the date bar's too) leaves rows out: what the search
        bar's "Show all" link, to the bare list, would undo."""
        return any(value for key, value in self.params.items() if key not in _NOT_NARROWING)

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = getattr(self.model_admin, "list_defer", ())
        return queryset.defer(*deferred) if deferred else queryset

    def chosen_ordering(self) -> tuple[int, bool] | None:
        """The column the ``o`` parameter sorts by and whether descending: its first column that
        ``list_orderings`` names. Later columns are ignored, since a second sort key would leave
        the index; so is a column that cannot sort (Django would sort by any field named)."""
        orderings = getattr(self.model_admin, "list_orderings", None) or {}
        for part in str(self.params.get(ORDER_VAR, "")).split("."):
            _, sign, number = part.rpartition("-")
            try:
                index = int(number)
            except ValueError:
                continue
            if 0 <= index < len(self.list_display) and self.list_display[index] in orderings:
                return index, sign == "-"
        return None

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        orderings = getattr(self.model_admin, "list_orderings", None)
        if not orderings:
            return super().get_ordering(request, queryset)
        chosen = self.chosen_ordering()
        if chosen is None:
            # Django's default ordering, without what ``o`` asks for. (Private in the stubs.)
            default = self.model_admin.get_ordering(request) or self._get_default_ordering()  # type: ignore[attr-defined]
            return self._get_deterministic_ordering(list(default))  # type: ignore[attr-defined,no-any-return]
        index, descending = chosen
        fields = orderings[self.list_display[index]]
        return [_reversed(f) for f in fields] if descending else list(fields)

    def get_ordering_field_columns(self) -> dict[int, Literal["desc", "asc"]]:
        if not getattr(self.model_admin, "list_orderings", None) or ORDER_VAR not in self.params:
            return super().get_ordering_field_columns()
        chosen = self.chosen_ordering()
        if chosen is None:
            return {}
        index, descending = chosen
        return {index: "desc" if descending else "asc"}


class IngestedAdmin(TenantScopedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Base for the read-only admins of ingested tables, sized for millions of rows: no full
    counts (estimating paginator, no full result count, no facet counts), heavy columns deferred
    in lists, and a tenant column and filter for users who see several tenants (not when the
    installation has only one: it would say the same on every row)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    list_defer: ClassVar[tuple[str, ...]] = ()
    # The columns that sort, each by the fields an index returns in order (ascending; the
    # descending sort reverses every field, which the same index returns backwards). Empty:
    # Django's ``sortable_by``.
    list_orderings: ClassVar[dict[str, tuple[str, ...]]] = {}
    # A list too wide to share the screen with the navigation sidebar, which its page leaves
    # out (``templates/admin/calls/change_list.html``; the breadcrumbs lead back).
    wide_list: ClassVar[bool] = False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargeTableChangeList

    def get_sortable_by(self, request: HttpRequest) -> Any:
        if self.list_orderings:
            return tuple(self.list_orderings)
        return super().get_sortable_by(request)

    def tenant_in_view(self, request: HttpRequest) -> int | None:
        """The one tenant whose rows the list shows: the only tenant the user may see (their
        only membership, or a superuser's installation's only tenant), or the tenant the tenant
        filter picked (when the user may see it); ``None`` when several are in view."""
        sole = sole_tenant_id(request)
        if sole is not None:
            return sole
        ids = self.tenant_ids(request)
        if self.tenant_path != "tenant":
            return None
        try:
            picked = int(request.GET.get(TENANT_FILTER_PARAM, ""))
        except ValueError:
            return None
        return picked if ids is None or picked in ids else None

    def list_zone(self, request: HttpRequest) -> zoneinfo.ZoneInfo:
        """The zone a list shows and filters times in: the tenant's when one tenant is in view
        (so its days are the analytics dashboard's and the CSV export's), else UTC."""
        tenant = self.tenant_in_view(request)
        if tenant is None:
            return UTC_ZONE
        return _zone(Tenant.objects.filter(pk=tenant).values_list("timezone", flat=True).first())

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The zone is active while the list is filtered (the date drill-down and the date filter
        # cut days at its midnight) and rendered, so the response is rendered here: a
        # TemplateResponse would otherwise render after the zone is restored.
        with timezone.override(self.list_zone(request)):
            response = super().changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    def object_zone(self, request: HttpRequest, object_id: str) -> zoneinfo.ZoneInfo:
        """The zone a change page shows times in: its tenant's (one tenant is always in view),
        looked up through the user's scoped queryset, so another tenant's row lends nothing."""
        if not self.tenant_path:
            return UTC_ZONE
        try:
            found = (
                self.get_queryset(request)
                .filter(pk=object_id)
                .order_by()
                .values_list(f"{self.tenant_path}__timezone", flat=True)[:1]
            )
            return _zone(next(iter(found), None))
        except (ValidationError, ValueError):  # an object id that is no primary key
            return UTC_ZONE

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Rendered while the zone is active, like the list (see ``changelist_view``); the page
        # names the zone above its fields (templates/admin/calls/change_form.html).
        zone = self.object_zone(request, object_id)
        context = {**(extra_context or {}), "times_zone": zone.key}
        with timezone.override(zone):
            response = super().change_view(request, object_id, form_url, context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

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
