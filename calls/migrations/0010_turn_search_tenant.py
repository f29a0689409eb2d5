"""Transcript search reads one tenant's index entries only: ``TranscriptTurn.tenant`` (a copy of
the call's) leads the full-text index.

Before, the GIN index of migration 0002 held every tenant's turns under each word, so a search
read (and spent time on) other tenants' matches before filtering them out by call: the time of a
search told a tenant whether others' conversations contained a word. The index is now a GIN index
on ``(tenant_id, to_tsvector('english', text))`` (``btree_gin`` indexes the integer column), so a
search for one tenant intersects that tenant's entries with the word's. A per-call search
document would do the same but has to be rebuilt whenever a transcript changes and doubles the
stored text; a copied column costs eight bytes a turn and ingestion already writes turns per call.

Steps, each committed on its own so a large table keeps taking writes between them:

1. the global index is dropped first (the backfill would otherwise update it for every row);
2. ``tenant_id`` is added nullable and without its foreign key, then filled from the calls by
   one ``UPDATE … FROM`` per range of ``BATCH_CALLS`` call ids (a short transaction each, no
   per-row foreign-key check), then made required, which adds the foreign key checked by one
   join;
3. ``btree_gin`` is created and the tenant-first index built concurrently.

Other databases search by substring: only the column is added there.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations, models, transaction

# The tenant-first index keeps the global one's name: it serves the same queries (a GIN index
# with several columns serves a condition on any of them), now also with the tenant.
OLD_INDEX = INDEX = "turn_text_fts_idx"
BATCH_CALLS = 50_000
# A GIN build sorts its entries in memory: the default 64MB makes it spill and merge for long.
BUILD_MEMORY = "1GB"


def drop_global_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD_INDEX}")


def create_global_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {OLD_INDEX} ON calls_transcriptturn "
        "USING gin (to_tsvector('english'::regconfig, text))"
    )


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        schema_editor.execute(
            "UPDATE calls_transcriptturn SET tenant_id = (SELECT c.tenant_id FROM calls_call c "
            "WHERE c.id = calls_transcriptturn.call_id) WHERE tenant_id IS NULL"
        )
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(call_id), max(call_id) FROM calls_transcriptturn")
        low, high = cursor.fetchone()
        if low is None:
            return
        # Ranges of call ids: each batch is an index range over (call_id, position) joined to
        # its calls by primary key. The last pass also catches turns written meanwhile.
        for start in range(low, high + 1, BATCH_CALLS):
            with transaction.atomic(using=connection.alias):
                cursor.execute(
                    "UPDATE calls_transcriptturn t SET tenant_id = c.tenant_id FROM calls_call c "
                    "WHERE c.id = t.call_id AND t.call_id >= %s AND t.call_id < %s "
                    "AND t.tenant_id IS NULL",
                    [start, start + BATCH_CALLS],
                )
        with transaction.atomic(using=connection.alias):
            cursor.execute(
                "UPDATE calls_transcriptturn t SET tenant_id = c.tenant_id FROM calls_call c "
                "WHERE c.id = t.call_id AND t.tenant_id IS NULL"
            )


def create_tenant_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
    try:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON calls_transcriptturn "
            "USING gin (tenant_id, to_tsvector('english'::regconfig, text))"
        )
    finally:
        schema_editor.execute("RESET maintenance_work_mem")
    schema_editor.execute("ANALYZE calls_transcriptturn")


def drop_tenant_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0009_lead_phone_unique"),
    ]

    operations = [
        migrations.RunPython(drop_global_index, create_global_index, elidable=False),
        migrations.AddField(
            model_name="transcriptturn",
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
            model_name="transcriptturn",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, to="calls.tenant"
            ),
        ),
        BtreeGinExtension(),
        migrations.RunPython(create_tenant_index, drop_tenant_index, elidable=False),
    ]
