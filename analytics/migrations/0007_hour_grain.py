"""Rollups per UTC hour for every fact the day rollups hold but leads, plus error counts per day
and per hour.

``RollupHour`` holds the state of each rolled hour (as ``RollupDay`` does of each day).
``CallHourRollup`` becomes a call rollup like ``CallDayRollup``, one row per combination of a
grouping's dimensions, keyed by its UTC hour alone; its rows are deleted (in both directions),
since rows of the other shape cannot be converted and no hour has a ``RollupHour`` state yet:
``manage.py rollups`` or the beat rolls the hours of the horizon again.

``ErrorDayRollup`` is filled for the days already rolled, counted from the error logs in the
tenant's zone as a roll would, so those days stay answerable from rollups, error totals included.
"""

import zoneinfo

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import TruncDate


def delete_call_hours(apps, schema_editor):
    apps.get_model("analytics", "CallHourRollup").objects.all().delete()


def count_errors_of_rolled_days(apps, schema_editor):
    Tenant = apps.get_model("calls", "Tenant")
    ErrorLog = apps.get_model("calls", "ErrorLog")
    RollupDay = apps.get_model("analytics", "RollupDay")
    ErrorDayRollup = apps.get_model("analytics", "ErrorDayRollup")
    for tenant in Tenant.objects.order_by("pk"):
        rolled = set(
            RollupDay.objects.filter(tenant=tenant, rolled_at__isnull=False).values_list(
                "day", flat=True
            )
        )
        if not rolled:
            continue
        zone = zoneinfo.ZoneInfo(tenant.timezone)
        rows = (
            ErrorLog.objects.filter(tenant=tenant)
            .annotate(day=TruncDate("timestamp", tzinfo=zone))
            .values("day", "service", "level")
            .annotate(n=Count("pk"))
            .order_by()
        )
        ErrorDayRollup.objects.bulk_create(
            (
                ErrorDayRollup(
                    tenant=tenant,
                    day=row["day"],
                    service=row["service"],
                    level=row["level"],
                    count=row["n"],
                )
                for row in rows
                if row["day"] in rolled
            ),
            batch_size=1000,
        )


def tenant():
    return models.ForeignKey(
        db_index=False, on_delete=django.db.models.deletion.CASCADE, to="calls.tenant"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_drop_unused_call_groupings"),
        ("calls", "0014_turn_search_vector"),
    ]

    operations = [
        migrations.CreateModel(
            name="RollupHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("rolled_at", models.DateTimeField(blank=True, null=True)),
                ("dirty_since", models.DateTimeField(blank=True, null=True)),
                ("hour", models.DateTimeField(help_text="UTC start of the hour")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=["tenant", "hour"], name="rolluphour_tenant_hour_uniq"
                    ),
                ],
                "indexes": [
                    models.Index(
                        condition=models.Q(dirty_since__isnull=False),
                        fields=["dirty_since"],
                        name="rolluphour_dirty_idx",
                    ),
                ],
            },
        ),
        # CallHourRollup: the old rows go, then its shape becomes CallDayRollup's with an hour.
        migrations.RunPython(delete_call_hours, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="callhourrollup", name="hourrollup_tenant_day_idx"),
        migrations.RemoveIndex(model_name="callhourrollup", name="hourrollup_tenant_hour_idx"),
        migrations.RemoveField(model_name="callhourrollup", name="day"),
        migrations.AddField(
            model_name="callhourrollup",
            name="grouping",
            field=models.CharField(default="", max_length=16),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="agent",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                to="calls.agent",
            ),
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="workflow",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                to="calls.workflow",
            ),
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="type_of_call",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="channel",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="lead_source",
            field=models.CharField(max_length=16, null=True),
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="status",
            field=models.CharField(default="", max_length=24),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="callhourrollup",
            name="end_call_reason",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name="callhourrollup",
            index=models.Index(fields=["tenant", "grouping", "hour"], name="callhour_grouping_idx"),
        ),
        migrations.AddIndex(
            model_name="callhourrollup",
            index=models.Index(fields=["tenant", "hour"], name="callhour_tenant_hour_idx"),
        ),
        # Backwards, the rows of this shape go before the ``day`` column comes back (NOT NULL).
        migrations.RunPython(migrations.RunPython.noop, delete_call_hours),
        migrations.CreateModel(
            name="ActionHourRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("grouping", models.CharField(default="full", max_length=8)),
                (
                    "agent",
                    models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="calls.agent",
                    ),
                ),
                ("type_of_call", models.CharField(blank=True, max_length=16)),
                ("name", models.CharField(max_length=200)),
                ("count", models.PositiveIntegerField(default=0)),
                ("hour", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "hour"], name="actionhour_tenant_hour_idx"),
                    models.Index(
                        fields=["tenant", "grouping", "hour"], name="actionhour_grouping_idx"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="EventHourRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("type", models.CharField(max_length=40)),
                ("count", models.PositiveIntegerField(default=0)),
                ("hour", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "hour"], name="eventhour_tenant_hour_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="ErrorDayRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("service", models.CharField(max_length=16)),
                ("level", models.CharField(max_length=8)),
                ("count", models.PositiveIntegerField(default=0)),
                ("day", models.DateField()),
            ],
            options={
                "indexes": [models.Index(fields=["tenant", "day"], name="errorday_tenant_day_idx")],
            },
        ),
        migrations.RunPython(count_errors_of_rolled_days, migrations.RunPython.noop),
        migrations.CreateModel(
            name="ErrorHourRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("service", models.CharField(max_length=16)),
                ("level", models.CharField(max_length=8)),
                ("count", models.PositiveIntegerField(default=0)),
                ("hour", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "hour"], name="errorhour_tenant_hour_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="LatencyHourRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tenant", tenant()),
                ("provider_type", models.CharField(max_length=8)),
                ("provider_name", models.CharField(blank=True, max_length=64)),
                ("samples", models.PositiveIntegerField(default=0)),
                ("latency_sum", models.FloatField(default=0.0)),
                ("calls", models.PositiveIntegerField(default=0)),
                ("histogram", models.JSONField(default=dict)),
                ("hour", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "hour"], name="latencyhour_tenant_hour_idx")
                ],
            },
        ),
    ]
