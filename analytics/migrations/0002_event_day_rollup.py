"""Activity-event counts per tenant-local day and type (``EventDayRollup``).

Days rolled before this table existed have no event rows yet, nor the call rows of the ``day``,
``status`` and ``outcome`` groupings: they are marked dirty, so they are answered from raw rows
until the next rollup run fills them in.
"""

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
        ("analytics", "0001_rollups"),
        ("calls", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventDayRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("type", models.CharField(max_length=40)),
                ("count", models.PositiveIntegerField(default=0)),
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
                    models.Index(fields=["tenant", "day"], name="eventrollup_tenant_day_idx")
                ],
            },
        ),
        migrations.RunPython(mark_rolled_days_dirty, migrations.RunPython.noop),
    ]
