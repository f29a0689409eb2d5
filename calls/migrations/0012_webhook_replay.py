import hashlib

import django.db.models.deletion
from django.db import migrations, models


def hash_tokens(apps, schema_editor):
    # The tenant's webhook token hash (calls.models.hash_webhook_token), for existing tenants.
    Tenant = apps.get_model("calls", "Tenant")
    for tenant in Tenant.objects.only("pk", "webhook_token"):
        digest = hashlib.sha256(tenant.webhook_token.encode()).hexdigest()
        Tenant.objects.filter(pk=tenant.pk).update(webhook_token_hash=digest)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0011_variable_filter_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="webhook_token_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(hash_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="tenant",
            name="webhook_token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.CreateModel(
            name="SynthflowDelivery",
            fields=[
                (
                    "call",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="synthflow_delivery",
                        serialize=False,
                        to="calls.call",
                    ),
                ),
                ("body_hash", models.CharField(max_length=64)),
                ("applied_at", models.DateTimeField()),
            ],
        ),
    ]
