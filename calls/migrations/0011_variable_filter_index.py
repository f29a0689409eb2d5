"""``var.<name>=<value>`` filters of the call list and export (``queries.filter_variables``)
read the ids of the calls with a variable of that name and value from this index alone, one
range per filter, instead of one correlated ``EXISTS`` per filter.

On PostgreSQL the index is built concurrently, so ingestion keeps writing variables while it
builds; elsewhere it is a plain ``CREATE INDEX``.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["name", "value", "call"], name="variable_name_value_idx")


def create_index(apps, schema_editor):
    model = apps.get_model("calls", "CollectedVariable")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} "
            f'ON {model._meta.db_table} ("name", "value", "call_id")'
        )
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("calls", "CollectedVariable")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("calls", "0010_turn_search_tenant"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="collectedvariable", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
