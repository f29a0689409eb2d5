"""Admin: how fresh each tenant's rollups are (last run, dirty days and hours), and a way to roll
now."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from analytics import tasks
from analytics.models import RollupDay, RollupFreshness, RollupHour
from config.admin.scoping import ReadOnlyMixin, TenantScopedAdminMixin


@admin.register(RollupFreshness)
class RollupFreshnessAdmin(TenantScopedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    tenant_path = "pk"
    list_display = (
        "name",
        "timezone",
        "last_rolled_at",
        "dirty_days",
        "dirty_hours",
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
                # A subquery: a second join would multiply the day counts.
                dirty_hour_count=Coalesce(
                    Subquery(
                        RollupHour.objects.filter(tenant=OuterRef("pk"), dirty_since__isnull=False)
                        .order_by()
                        .values("tenant")
                        .annotate(n=Count("pk"))
                        .values("n"),
                        output_field=IntegerField(),
                    ),
                    0,
                ),
            )
        )

    @admin.display(description="last rollup", ordering="last_rolled")
    def last_rolled_at(self, obj: Any) -> Any:
        return obj.last_rolled

    @admin.display(description="dirty days", ordering="dirty")
    def dirty_days(self, obj: Any) -> int:
        return int(obj.dirty)

    @admin.display(description="dirty hours", ordering="dirty_hour_count")
    def dirty_hours(self, obj: Any) -> int:
        return int(obj.dirty_hour_count)

    @admin.display(description="oldest dirty day mark", ordering="oldest_dirty")
    def dirty_since(self, obj: Any) -> Any:
        return obj.oldest_dirty

    @admin.display(description="rolled days", ordering="rolled")
    def rolled_days(self, obj: Any) -> int:
        return int(obj.rolled)

    @admin.action(description="Roll the dirty days and hours of the selected tenants now")
    def roll_dirty_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        days = list(
            RollupDay.objects.filter(tenant__in=queryset, dirty_since__isnull=False).values_list(
                "tenant_id", "day"
            )
        )
        hours = list(
            RollupHour.objects.filter(tenant__in=queryset, dirty_since__isnull=False).values_list(
                "tenant_id", "hour"
            )
        )
        tasks.enqueue_rolls(days)
        tasks.enqueue_hour_rolls(hours)
        self.message_user(
            request,
            f"Queued {len(days)} day(s) and {len(hours)} hour(s) for rollup.",
            messages.SUCCESS,
        )
