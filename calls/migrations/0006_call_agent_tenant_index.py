"""The agent foreign key's own index becomes ``(agent, tenant)``: the same lookups by agent, and
``GET /v2/calls`` counts one agent's calls from this small index alone. The new index is built
before the old one is dropped."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0005_action_tenant_start_required"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["agent", "tenant"], name="call_agent_tenant_idx"),
        ),
        migrations.AlterField(
            model_name="call",
            name="agent",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="calls",
                to="calls.agent",
            ),
        ),
    ]
