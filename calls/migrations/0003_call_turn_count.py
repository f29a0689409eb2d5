"""``Call.turn_count``: the number of transcript turns, stored on the call.

Adding the column with its default is instant on PostgreSQL; existing calls are then counted from
their turns in one grouped statement.
"""

from django.db import migrations, models

BACKFILL = (
    "UPDATE calls_call SET turn_count = counted.n "
    "FROM (SELECT call_id, COUNT(*) AS n FROM calls_transcriptturn GROUP BY call_id) AS counted "
    "WHERE calls_call.id = counted.call_id"
)


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_transcript_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="turn_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
