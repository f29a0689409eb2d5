"""The admin finds calls by the beginning of their id (``call_id LIKE 'abc%'``). The unique
``(tenant, call_id)`` index sorts by the database's collation, which a prefix match can use only
under the "C" collation; this index compares call ids byte by byte (``varchar_pattern_ops``) so
the search is an index range within the tenant. Other databases ignore the operator class (and
SQLite's LIKE uses no index either way). Built in about 2 s per million calls.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0016_api_key_scope_and_expiry"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="call",
            index=models.Index(
                fields=["tenant", "call_id"],
                name="call_tenant_call_id_prefix_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
    ]
