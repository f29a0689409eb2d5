"""``ExecutedAction.tenant`` and ``start_time``: copies of the call's, so a window's actions are an
index range scan (action rollups and the analytics ``executed_actions`` block) instead of a join
over every call of the tenant.

The columns are added nullable and filled from the calls in one statement here; the next migration
makes them required (a separate transaction: PostgreSQL refuses to alter a table with the
backfill's foreign-key checks still pending).
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = (
    "UPDATE calls_executedaction SET tenant_id = calls_call.tenant_id, "
    "start_time = calls_call.start_time FROM calls_call "
    "WHERE calls_executedaction.call_id = calls_call.id"
)


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0003_call_turn_count"),
    ]

    operations = [
        migrations.AddField(
            model_name="executedaction",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                to="calls.tenant",
            ),
        ),
        migrations.AddField(
            model_name="executedaction",
            name="start_time",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
