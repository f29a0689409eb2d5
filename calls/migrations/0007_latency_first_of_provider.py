"""``LatencySample.first_of_provider``: whether a sample is its call's first of its provider, so
calls per provider are counted without a DISTINCT over every sample. Existing samples are marked
in one statement."""

from django.db import migrations, models

BACKFILL = (
    "UPDATE calls_latencysample SET first_of_provider = TRUE WHERE id IN ("
    "SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
    "PARTITION BY call_id, provider_type, provider_name ORDER BY position) AS n "
    "FROM calls_latencysample) AS numbered WHERE n = 1)"
)


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0006_call_agent_tenant_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="latencysample",
            name="first_of_provider",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
