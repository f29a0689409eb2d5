"""``ExecutedAction.agent`` and ``type_of_call``: copies of the call's, so the actions of a window
are grouped and filtered by agent and type without joining their calls (rolling a busy day joined
tens of thousands of actions to their calls one lookup at a time).

Both columns are added empty (a catalogue-only change on PostgreSQL) and filled from the calls in
one statement.
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = (
    "UPDATE calls_executedaction SET agent_id = calls_call.agent_id, "
    "type_of_call = calls_call.type_of_call FROM calls_call "
    "WHERE calls_executedaction.call_id = calls_call.id "
    "AND (calls_call.agent_id IS NOT NULL OR calls_call.type_of_call <> '')"
)


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0007_latency_first_of_provider"),
    ]

    operations = [
        migrations.AddField(
            model_name="executedaction",
            name="agent",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="calls.agent",
            ),
        ),
        migrations.AddField(
            model_name="executedaction",
            name="type_of_call",
            field=models.CharField(
                blank=True,
                choices=[("inbound", "Inbound"), ("outbound", "Outbound"), ("widget", "Widget")],
                default="",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
