"""Full-text search over transcripts (``GET /api/v1/calls?q=…``).

PostgreSQL only: a GIN index on ``to_tsvector('english', text)`` of every transcript turn. The
query (``calls.queries.filter_transcript``) uses the identical expression, which is what lets the
planner use the index. Built concurrently, so a large table keeps taking writes meanwhile. Other
databases search by substring and need nothing here.
"""

from django.db import migrations

INDEX = "turn_text_fts_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON calls_transcriptturn "
        "USING gin (to_tsvector('english'::regconfig, text))"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
