"""``LeadDayRollup.grouping``: each day's lead rows per stage, channel and source (``full``, what
existed) and per stage alone (``stage``). Rolled days have no ``stage`` rows yet: they are marked
dirty, so they are answered from raw rows until the next rollup run fills them in."""

from django.db import migrations, models
from django.utils import timezone


def mark_rolled_days_dirty(apps, schema_editor):
    RollupDay = apps.get_model("analytics", "RollupDay")
    RollupDay.objects.filter(rolled_at__isnull=False, dirty_since__isnull=True).update(
        dirty_since=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_event_day_rollup"),
    ]

    operations = [
        migrations.AddField(
            model_name="leaddayrollup",
            name="grouping",
            field=models.CharField(default="full", max_length=8),
        ),
        migrations.AddIndex(
            model_name="leaddayrollup",
            index=models.Index(
                fields=["tenant", "grouping", "day"], name="leadrollup_grouping_idx"
            ),
        ),
        migrations.RunPython(mark_rolled_days_dirty, migrations.RunPython.noop),
    ]
