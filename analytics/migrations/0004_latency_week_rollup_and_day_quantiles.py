"""``LatencyWeekRollup`` (latency totals and histograms per tenant-local week, for weekly charts),
``LatencyDayRollup.quantiles`` (each day's stored percentiles, for daily charts) and the month
rows' totals (samples, latency sum, calls), so long windows read totals and histograms from the
same rows. Rolled days have none of them yet: they are marked dirty, so they are answered from
raw rows until the next rollup run rolls them again and fills them in."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def mark_rolled_days_dirty(apps, schema_editor):
    RollupDay = apps.get_model("analytics", "RollupDay")
    RollupDay.objects.filter(rolled_at__isnull=False, dirty_since__isnull=True).update(
        dirty_since=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_lead_rollup_grouping"),
        ("calls", "0008_action_agent_type"),
    ]

    operations = [
        migrations.AddField(
            model_name="latencydayrollup",
            name="quantiles",
            field=models.JSONField(default=list),
        ),
        migrations.CreateModel(
            name="LatencyWeekRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("week", models.DateField(help_text="the week's Monday")),
                ("provider_type", models.CharField(max_length=8)),
                ("provider_name", models.CharField(blank=True, max_length=64)),
                ("samples", models.PositiveIntegerField(default=0)),
                ("latency_sum", models.FloatField(default=0.0)),
                ("calls", models.PositiveIntegerField(default=0)),
                ("histogram", models.JSONField(default=dict)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="calls.tenant",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "week"], name="latencyweek_tenant_week_idx")
                ],
            },
        ),
        migrations.AddField(
            model_name="latencymonthrollup",
            name="samples",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="latencymonthrollup",
            name="latency_sum",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="latencymonthrollup",
            name="calls",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(mark_rolled_days_dirty, migrations.RunPython.noop),
    ]
