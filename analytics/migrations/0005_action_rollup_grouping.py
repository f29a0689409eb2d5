"""``ActionDayRollup.grouping``: each day's action rows per name, agent and type (``full``, what
existed) and per name alone (``name``). The ``name`` rows of the days already rolled are summed
from their ``full`` rows here, so rolled days keep being answered from rollups."""

from django.db import migrations, models
from django.db.models import Sum


def add_name_rows(apps, schema_editor):
    ActionDayRollup = apps.get_model("analytics", "ActionDayRollup")
    summed = (
        ActionDayRollup.objects.filter(grouping="full")
        .order_by()
        .values("tenant_id", "day", "name")
        .annotate(n=Sum("count"))
    )
    ActionDayRollup.objects.bulk_create(
        [
            ActionDayRollup(
                tenant_id=row["tenant_id"],
                day=row["day"],
                grouping="name",
                name=row["name"],
                count=row["n"],
            )
            for row in summed.iterator(chunk_size=5000)
        ],
        batch_size=5000,
    )


def remove_name_rows(apps, schema_editor):
    apps.get_model("analytics", "ActionDayRollup").objects.filter(grouping="name").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_latency_week_rollup_and_day_quantiles"),
        ("calls", "0008_action_agent_type"),
    ]

    operations = [
        migrations.AddField(
            model_name="actiondayrollup",
            name="grouping",
            field=models.CharField(default="full", max_length=8),
        ),
        migrations.AddIndex(
            model_name="actiondayrollup",
            index=models.Index(
                fields=["tenant", "grouping", "day"], name="actionrollup_grouping_idx"
            ),
        ),
        migrations.RunPython(add_name_rows, remove_name_rows),
    ]
