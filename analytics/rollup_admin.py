"""Admin: how fresh each tenant's rollups are (last run, dirty days), and a way to roll now."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Max, Min, Q, QuerySet
from django.http import HttpRequest

from analytics import tasks
from analytics.models import RollupDay, RollupFreshness
from config.admin.scoping import ReadOnlyMixin, TenantScopedAdminMixin


@admin.register(RollupFreshness)
class RollupFreshnessAdmin(TenantScopedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    tenant_path = "pk"
    list_display = (
        "name",
        "timezone",
        "last_rolled_at",
        "dirty_days",
        "dirty_since",
        "rolled_days",
    )
    actions = ("roll_dirty_now",)
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_rolled=Max("rollupday__rolled_at"),
                dirty=Count("rollupday", filter=Q(rollupday__dirty_since__isnull=False)),
                oldest_dirty=Min("rollupday__dirty_since"),
                rolled=Count("rollupday", filter=Q(rollupday__rolled_at__isnull=False)),
            )
        )

    @admin.display(description="last rollup", ordering="last_rolled")
    def last_rolled_at(self, obj: Any) -> Any:
        return obj.last_rolled

    @admin.display(description="dirty days", ordering="dirty")
    def dirty_days(self, obj: Any) -> int:
        return int(obj.dirty)

    @admin.display(description="oldest dirty mark", ordering="oldest_dirty")
    def dirty_since(self, obj: Any) -> Any:
        return obj.oldest_dirty

    @admin.display(description="rolled days", ordering="rolled")
    def rolled_days(self, obj: Any) -> int:
        return int(obj.rolled)

    @admin.action(description="Roll the dirty days of the selected tenants now")
    def roll_dirty_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        pairs = list(
            RollupDay.objects.filter(tenant__in=queryset, dirty_since__isnull=False).values_list(
                "tenant_id", "day"
            )
        )
        tasks.enqueue_rolls(pairs)
        self.message_user(request, f"Queued {len(pairs)} day(s) for rollup.", messages.SUCCESS)
