"""Rollups: analytics facts precomputed per tenant-local day and per UTC hour.

Each table holds exactly what ``analytics.facts.raw`` computes from raw rows for one day or one
hour, so a clean rolled-up day or hour can stand in for its raw rows without changing an answer.
``RollupDay`` and ``RollupHour`` say, per tenant-local day and per UTC hour, whether it has been
rolled up and whether writes arrived since: only those rolled and not dirty are read from
rollups. Hours are kept for the recent ``settings.ROLLUP_HOUR_HORIZON_DAYS`` only; days, weeks
and months serve longer windows.

Rollup rows are replaced per ``(tenant, day)`` or ``(tenant, hour)`` in one transaction; they
carry no uniqueness constraint of their own (dimension columns are nullable), the
delete-then-insert is the unit. The columns a day table and its hour table share are declared
once, in an abstract model.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from calls.models import Agent, Tenant, Workflow


class RollupState(models.Model):
    """The rollup state of one period of a tenant (a day or an hour).

    ``dirty_since`` is set (to the time of the write) by every ingestion that touches the
    period, in the writer's transaction; the rollup task clears it only if it has not moved while
    the period was being rolled, so a write that lands mid-roll keeps the period dirty.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    rolled_at = models.DateTimeField(null=True, blank=True)
    dirty_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def state(self) -> str:
        return "dirty" if self.dirty_since else ("rolled" if self.rolled_at else "new")


class RollupDay(RollupState):
    """The rollup state of one tenant-local day."""

    day = models.DateField()
    # The tenant's zone when the day was rolled: rollups in another zone are never used.
    timezone = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints: ClassVar = [
            # One state per day; also the index of the query-time lookup of clean days.
            models.UniqueConstraint(fields=["tenant", "day"], name="rollupday_tenant_day_uniq"),
        ]
        indexes: ClassVar = [
            # The beat task's scan for dirty days (a partial index stays tiny).
            models.Index(
                fields=["dirty_since"],
                name="rollupday_dirty_idx",
                condition=models.Q(dirty_since__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.state}"


class RollupHour(RollupState):
    """The rollup state of one UTC hour of a tenant: of all its hour rows within the hour
    horizon (``settings.ROLLUP_HOUR_HORIZON_DAYS``), of its call totals before it. Hours do not
    depend on the tenant's zone."""

    hour = models.DateTimeField(help_text="UTC start of the hour")

    class Meta:
        constraints: ClassVar = [
            # One state per hour; also the index of the query-time lookup of clean hours.
            models.UniqueConstraint(fields=["tenant", "hour"], name="rolluphour_tenant_hour_uniq"),
        ]
        indexes: ClassVar = [
            # The beat task's scan for dirty hours (a partial index stays tiny).
            models.Index(
                fields=["dirty_since"],
                name="rolluphour_dirty_idx",
                condition=models.Q(dirty_since__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.hour:%Y-%m-%d %H:00} {self.state}"


class CallMeasures(models.Model):
    """The additive measures of a set of calls (``analytics.facts.vocabulary.CallTotals``)."""

    calls = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    successful = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    handoffs = models.PositiveIntegerField(default=0)
    duration_sum = models.BigIntegerField(default=0)
    duration_count = models.PositiveIntegerField(default=0)
    tokens_sum = models.BigIntegerField(default=0)
    response_time_sum = models.FloatField(default=0.0)
    response_time_count = models.PositiveIntegerField(default=0)
    turns = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class CallGroupedMeasures(CallMeasures):
    """Call totals of one period, per combination of the dimensions of a grouping.

    Each period is stored once per grouping (``analytics.facts.vocabulary.CALL_GROUPINGS``), one
    for each set of dimensions the analytics queries group and filter by, all summed from the
    same cube of the period's calls, so a year of a question reads at most tens of thousands of
    rows. Dimensions outside a row's grouping hold their empty value.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    grouping = models.CharField(max_length=16)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, null=True, db_index=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, null=True, db_index=False)
    type_of_call = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    lead_source = models.CharField(max_length=16, null=True)
    status = models.CharField(max_length=24)
    end_call_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True


class CallDayRollup(CallGroupedMeasures):
    """Call totals of one tenant-local day, per grouping."""

    day = models.DateField()

    class Meta:
        indexes: ClassVar = [
            # Every rollup read: one grouping of a tenant's days in a window.
            models.Index(fields=["tenant", "grouping", "day"], name="callrollup_grouping_idx"),
            # Replacing a range of days.
            models.Index(fields=["tenant", "day"], name="callrollup_tenant_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.status} x{self.calls}"


class CallHourRollup(CallGroupedMeasures):
    """Call totals of one UTC hour, per grouping."""

    hour = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # Every hour read: one grouping of a tenant's hours in a window.
            models.Index(fields=["tenant", "grouping", "hour"], name="callhour_grouping_idx"),
            # Replacing a range of hours.
            models.Index(fields=["tenant", "hour"], name="callhour_tenant_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.status} x{self.calls}"


class ActionCounts(models.Model):
    """Executed actions of one period's calls, by action name.

    Each period is stored twice: per name and the calls' agent and type (grouping ``full``, for
    questions filtered by agent or type) and per name alone (grouping ``name``, agent and type
    empty), which answers the unfiltered ones from a few rows a period.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    grouping = models.CharField(max_length=8, default="full")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, null=True, db_index=False)
    type_of_call = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class ActionDayRollup(ActionCounts):
    """Executed actions of one tenant-local day's calls."""

    day = models.DateField()

    class Meta:
        indexes: ClassVar = [
            # Replacing a range of days.
            models.Index(fields=["tenant", "day"], name="actionrollup_tenant_day_idx"),
            # executed_actions block: one grouping of a tenant's days in a window.
            models.Index(fields=["tenant", "grouping", "day"], name="actionrollup_grouping_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.name} x{self.count}"


class ActionHourRollup(ActionCounts):
    """Executed actions of one UTC hour's calls."""

    hour = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # Replacing a range of hours.
            models.Index(fields=["tenant", "hour"], name="actionhour_tenant_hour_idx"),
            # executed_actions block: one grouping of a tenant's hours in a window.
            models.Index(fields=["tenant", "grouping", "hour"], name="actionhour_grouping_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.name} x{self.count}"


class LeadDayRollup(models.Model):
    """Leads reaching a stage (created, qualified, demo_booked, converted) on one day.

    Each day is stored twice: per stage, channel and source (grouping ``full``, for filtered
    questions) and per stage alone (grouping ``stage``, channel and source empty), which answers
    the unfiltered ones from a few rows a day.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    day = models.DateField()
    grouping = models.CharField(max_length=8, default="full")
    stage = models.CharField(max_length=16)
    channel = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, blank=True)
    count = models.PositiveIntegerField(default=0)
    score_sum = models.BigIntegerField(default=0)
    score_count = models.PositiveIntegerField(default=0)
    pipeline = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes: ClassVar = [
            # Replacing a range of days.
            models.Index(fields=["tenant", "day"], name="leadrollup_tenant_day_idx"),
            # Sales overview and funnel: one grouping of a tenant's days in a window.
            models.Index(fields=["tenant", "grouping", "day"], name="leadrollup_grouping_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.stage} x{self.count}"


class EventCounts(models.Model):
    """Activity events that occurred in one period, by type."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    type = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class EventDayRollup(EventCounts):
    """Activity events that occurred on one tenant-local day."""

    day = models.DateField()

    class Meta:
        indexes: ClassVar = [
            # The activity feed's total: a tenant's days in a window.
            models.Index(fields=["tenant", "day"], name="eventrollup_tenant_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.type} x{self.count}"


class EventHourRollup(EventCounts):
    """Activity events that occurred in one UTC hour."""

    hour = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # The activity feed's total: a tenant's hours in a window; replacing a range.
            models.Index(fields=["tenant", "hour"], name="eventhour_tenant_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.type} x{self.count}"


class ErrorCounts(models.Model):
    """Error logs (``calls.models.ErrorLog``) stamped in one period, by service and level."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    service = models.CharField(max_length=16)
    level = models.CharField(max_length=8)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class ErrorDayRollup(ErrorCounts):
    """Error logs stamped on one tenant-local day."""

    day = models.DateField()

    class Meta:
        indexes: ClassVar = [
            # The error log's total: a tenant's days in a window; replacing a range.
            models.Index(fields=["tenant", "day"], name="errorday_tenant_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.service}/{self.level} x{self.count}"


class ErrorHourRollup(ErrorCounts):
    """Error logs stamped in one UTC hour."""

    hour = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # The error log's total: a tenant's hours in a window; replacing a range.
            models.Index(fields=["tenant", "hour"], name="errorhour_tenant_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.service}/{self.level} x{self.count}"


class LatencyMeasures(models.Model):
    """One provider's latency samples over a tenant's hour, day, week or month: the totals of
    ``analytics.facts.vocabulary.LatencyTotals`` plus a mergeable log-bucket histogram
    (``analytics.sketch``) for percentiles within 1% relative error."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    provider_type = models.CharField(max_length=8)
    provider_name = models.CharField(max_length=64, blank=True)
    samples = models.PositiveIntegerField(default=0)
    latency_sum = models.FloatField(default=0.0)
    calls = models.PositiveIntegerField(default=0)
    # {"zero": n, "offset": k, "counts": [...]}: counts[i] samples in bucket k + i.
    histogram = models.JSONField(default=dict)

    class Meta:
        abstract = True


class LatencyDayRollup(LatencyMeasures):
    """Latency samples of one day's calls per provider."""

    day = models.DateField()
    # The histogram's percentiles at ``analytics.definitions.PERCENTILES`` ([p50, p95, p99]): a
    # daily latency chart reads these three numbers instead of decoding every day's histogram.
    quantiles = models.JSONField(default=list)

    class Meta:
        indexes: ClassVar = [
            # provider-latency and summary: a tenant's days in a window.
            models.Index(fields=["tenant", "day"], name="latencyrollup_tenant_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider_type}/{self.provider_name}"


class LatencyHourRollup(LatencyMeasures):
    """Latency samples of one UTC hour's calls per provider (no stored quantiles: hours are read
    merged into longer windows, never charted one by one)."""

    hour = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            # provider-latency and summary: a tenant's hours in a window; replacing a range.
            models.Index(fields=["tenant", "hour"], name="latencyhour_tenant_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.provider_type}/{self.provider_name}"


class LatencyMonthRollup(LatencyMeasures):
    """The latency totals and histograms of a tenant-local calendar month, merged from its day
    rows when any of its days is rolled. Used only when every day of the month is clean: a year
    of provider latency then reads twelve rows per provider instead of 365."""

    month = models.DateField(help_text="first day of the month")

    class Meta:
        indexes: ClassVar = [
            # provider-latency percentiles over long windows: a tenant's months in a window.
            models.Index(fields=["tenant", "month"], name="latencymonth_tenant_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.provider_type}/{self.provider_name}"


class LatencyWeekRollup(LatencyMeasures):
    """The latency totals and histograms of a tenant-local week (Monday to Sunday), merged from its
    day rows when any of its days is rolled. Used only when all seven days are clean: the admin
    dashboard charts a long range per week, and a year then reads 53 rows per provider, not 365."""

    week = models.DateField(help_text="the week's Monday")

    class Meta:
        indexes: ClassVar = [
            # Weekly charts and long provider-latency windows: a tenant's weeks; replacing one.
            models.Index(fields=["tenant", "week"], name="latencyweek_tenant_week_idx"),
        ]

    def __str__(self) -> str:
        return f"week of {self.week} {self.provider_type}/{self.provider_name}"


class RollupFreshness(Tenant):
    """A tenant seen through the state of its rollups (admin only)."""

    class Meta:
        proxy = True
        verbose_name = "rollup freshness"
        verbose_name_plural = "rollup freshness"
