"""``ExecutedAction.tenant`` and ``start_time`` become required, and indexed for window scans."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0004_action_tenant_start"),
    ]

    operations = [
        migrations.AlterField(
            model_name="executedaction",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, to="calls.tenant"
            ),
        ),
        migrations.AlterField(
            model_name="executedaction",
            name="start_time",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="executedaction",
            index=models.Index(fields=["tenant", "start_time"], name="action_tenant_start_idx"),
        ),
    ]
