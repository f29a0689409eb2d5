"""``var.<name>=<value>`` filters read one tenant's index entries only: ``CollectedVariable.tenant``
(a copy of the call's) leads the filter index.

Before, ``variable_name_value_idx`` (name, value, call_id) of migration 0011 held every tenant's
variables under each (name, value), so a filter read (and spent time on) other tenants' entries
before keeping this tenant's calls: the time of a filtered list told a tenant how many calls of
other tenants carried a value. ``variable_tenant_name_value_idx`` (tenant_id, name, value,
call_id) replaces it, so a filter reads one range of its own tenant's entries, still index-only.

Steps, each committed on its own so a large table keeps taking writes between them:

1. the global index is dropped first (the backfill would otherwise update it for every row);
2. ``tenant_id`` is added nullable and without its foreign key, then filled from the calls by
   one ``UPDATE … FROM`` per range of ``BATCH_CALLS`` call ids (a short transaction each, no
   per-row foreign-key check); ``VACUUM`` then reclaims the old row versions and marks the
   pages all-visible again, which index-only scans need; the column is then made required,
   which adds the foreign key checked by one join;
3. the tenant-first index is built concurrently.

Elsewhere than PostgreSQL the backfill is one statement and the indexes are plain DDL.
"""

import django.db.models.deletion
from django.db import migrations, models, transaction

TABLE = "calls_collectedvariable"
OLD_INDEX = models.Index(fields=["name", "value", "call"], name="variable_name_value_idx")
INDEX = models.Index(
    fields=["tenant", "name", "value", "call"], name="variable_tenant_name_value_idx"
)
BATCH_CALLS = 50_000
# A B-tree build sorts its entries in memory: more of it means fewer merge passes.
BUILD_MEMORY = "1GB"


def drop_global_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(apps.get_model("calls", "CollectedVariable"), OLD_INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD_INDEX.name}")


def create_global_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(apps.get_model("calls", "CollectedVariable"), OLD_INDEX)
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {OLD_INDEX.name} "
        f'ON {TABLE} ("name", "value", "call_id")'
    )


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        schema_editor.execute(
            f"UPDATE {TABLE} SET tenant_id = (SELECT c.tenant_id FROM calls_call c "
            f"WHERE c.id = {TABLE}.call_id) WHERE tenant_id IS NULL"
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(call_id), max(call_id) FROM {TABLE}")
        low, high = cursor.fetchone()
        if low is None:
            return
        # Ranges of call ids: each batch is a range of variable_call_agent_name_uniq (call_id
        # first) joined to its calls by primary key. The last pass also catches variables
        # written meanwhile.
        for start in range(low, high + 1, BATCH_CALLS):
            with transaction.atomic(using=connection.alias):
                cursor.execute(
                    f"UPDATE {TABLE} v SET tenant_id = c.tenant_id FROM calls_call c "
                    "WHERE c.id = v.call_id AND v.call_id >= %s AND v.call_id < %s "
                    "AND v.tenant_id IS NULL",
                    [start, start + BATCH_CALLS],
                )
        with transaction.atomic(using=connection.alias):
            cursor.execute(
                f"UPDATE {TABLE} v SET tenant_id = c.tenant_id FROM calls_call c "
                "WHERE c.id = v.call_id AND v.tenant_id IS NULL"
            )
        # Outside any transaction (the migration is not atomic): every row was rewritten, so
        # until vacuumed the filter index's reads would visit the table for each entry.
        cursor.execute(f"VACUUM {TABLE}")


def create_tenant_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(apps.get_model("calls", "CollectedVariable"), INDEX)
        return
    schema_editor.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
    try:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} "
            f'ON {TABLE} ("tenant_id", "name", "value", "call_id")'
        )
    finally:
        schema_editor.execute("RESET maintenance_work_mem")
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop_tenant_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(apps.get_model("calls", "CollectedVariable"), INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")


class Migration(migrations.Migration):
    # DROP/CREATE INDEX CONCURRENTLY and VACUUM cannot run inside a transaction; the backfill
    # commits batch by batch.
    atomic = False

    dependencies = [
        ("calls", "0012_webhook_replay"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="collectedvariable", name=OLD_INDEX.name)
            ],
            database_operations=[
                migrations.RunPython(drop_global_index, create_global_index, elidable=False)
            ],
        ),
        migrations.AddField(
            model_name="collectedvariable",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                to="calls.tenant",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="collectedvariable",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, to="calls.tenant"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="collectedvariable", index=INDEX)],
            database_operations=[
                migrations.RunPython(create_tenant_index, drop_tenant_index, elidable=False)
            ],
        ),
    ]
