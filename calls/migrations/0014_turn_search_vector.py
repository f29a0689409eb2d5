"""Each turn stores its search vector: ``calls_transcriptturn.search_vector``, a generated column
``to_tsvector('english', text)`` (PostgreSQL only).

A search whose term is common checks the newest calls one by one (``calls.queries``). Computing
``to_tsvector`` again for every turn of every call checked cost about 0.3 ms a call, so a term
said in a few percent of calls spent hundreds of milliseconds filling one page. Reading the
stored vector costs the row read alone. The tenant-first GIN index (migration 0010) is left
as it is: it still serves the rare terms.

The column is added by one ``ALTER TABLE``, which rewrites the table (computing every turn's
vector) and its indexes under an exclusive lock: minutes on millions of turns, during which
ingestion waits. The model does not declare the column (elsewhere than PostgreSQL there is no
``to_tsvector``; there, search is by substring), so inserts leave it to PostgreSQL.
"""

from django.db import migrations

TABLE = "calls_transcriptturn"
COLUMN = "search_vector"
# The rewrite rebuilds every index of the table, the GIN index among them: see migration 0010.
BUILD_MEMORY = "1GB"


def add_vector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
    try:
        schema_editor.execute(
            f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {COLUMN} tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED"
        )
    finally:
        schema_editor.execute("RESET maintenance_work_mem")
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop_vector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0013_variable_tenant"),
    ]

    operations = [
        migrations.RunPython(add_vector, drop_vector, elidable=False),
    ]
