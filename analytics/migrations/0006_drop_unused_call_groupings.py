"""``CallDayRollup`` stores the groupings ``full`` and ``dashboard`` no more: no question the
analytics APIs or the dashboard ask is answered from them, and a roll sums every stored grouping
from a cube of the day's calls that it does not keep. Their rows are deleted; the other groupings
of the days already rolled stay, so those days keep being answered from rollups.

Backwards nothing is rebuilt: no read chooses those rows, and the next roll of a day
(``manage.py rollups``) writes the groupings the code of that version stores.
"""

from django.db import migrations, models

DROPPED = ("full", "dashboard")


def delete_dropped_groupings(apps, schema_editor):
    CallDayRollup = apps.get_model("analytics", "CallDayRollup")
    CallDayRollup.objects.filter(grouping__in=DROPPED).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_action_rollup_grouping"),
    ]

    operations = [
        migrations.RunPython(delete_dropped_groupings, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="calldayrollup",
            name="grouping",
            field=models.CharField(max_length=16),
        ),
    ]
