"""One lead per phone number of a tenant (``Lead.lead_tenant_phone_uniq``).

Concurrent writers could create several leads for one phone before the constraint existed, so
existing duplicates are merged first, deterministically: the oldest lead of a phone (by
``created_at``, then primary key) is kept and the others are folded into it.

- Their calls and activity events move to the kept lead. Of the events a lead has once
  (``lead.created``, ``lead.qualified``, ``conversion.completed``) the earliest of the group
  stays, keyed to the kept lead so that a later write does not add it again; the rest go.
- The kept lead keeps its values and takes the others' for the fields it has empty; it reaches
  every stage any of them reached (each stage at the earliest stamp; ``lost`` when any was).
- The others' ``lead_id`` disappear: a later write carrying one of them and the phone lands on
  the kept lead through the phone, as it would have for a write after the first.
- Rolled analytics days whose lead counts or call attributions change are marked dirty, so the
  rollup task recomputes them.
"""

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import migrations, models
from django.db.models import Count
from django.utils import timezone

STAGES = ("new", "qualified", "demo_booked", "converted")
STAMPS = ("created_at", "qualified_at", "demo_booked_at", "converted_at", "lost_at")
ONCE_PER_LEAD = ("lead.created", "lead.qualified", "conversion.completed")
FILLED_FROM_OTHERS = ("name", "email", "source", "channel")
NULLABLE_FROM_OTHERS = ("score", "estimated_value")


def _merge_into(keep, others):
    """Folds ``others`` into ``keep`` in memory (see the module docstring)."""
    group = [keep, *others]
    for name in FILLED_FROM_OTHERS:
        if not getattr(keep, name):
            setattr(keep, name, next((getattr(o, name) for o in others if getattr(o, name)), ""))
    for name in NULLABLE_FROM_OTHERS:
        if getattr(keep, name) is None:
            values = (getattr(o, name) for o in others if getattr(o, name) is not None)
            setattr(keep, name, next(values, None))
    for stamp in STAMPS[1:]:
        times = [getattr(lead, stamp) for lead in group if getattr(lead, stamp) is not None]
        setattr(keep, stamp, min(times) if times else None)
    if any(lead.status == "lost" for lead in group):
        keep.status = "lost"
    else:
        keep.status = max((lead.status for lead in group), key=STAGES.index)


def merge_duplicate_leads(apps, schema_editor):
    Lead = apps.get_model("calls", "Lead")
    Call = apps.get_model("calls", "Call")
    ActivityEvent = apps.get_model("calls", "ActivityEvent")
    Tenant = apps.get_model("calls", "Tenant")

    groups = list(
        Lead.objects.exclude(phone_number="")
        .values_list("tenant_id", "phone_number")
        .annotate(leads=Count("pk"))
        .filter(leads__gt=1)
        .order_by("tenant_id", "phone_number")
    )
    if not groups:
        return
    touched: dict[int, set[datetime]] = defaultdict(set)
    for tenant_id, phone, _ in groups:
        keep, *others = Lead.objects.filter(tenant_id=tenant_id, phone_number=phone).order_by(
            "created_at", "pk"
        )
        other_ids = [lead.pk for lead in others]
        instants = touched[tenant_id]
        for lead in (keep, *others):
            instants.update(getattr(lead, stamp) for stamp in STAMPS)

        calls = Call.objects.filter(lead_id__in=other_ids)
        instants.update(calls.values_list("start_time", flat=True))
        calls.update(lead_id=keep.pk)

        events = ActivityEvent.objects.filter(lead_id__in=[keep.pk, *other_ids])
        for type_ in ONCE_PER_LEAD:
            of_type = list(events.filter(type=type_).order_by("occurred_at", "pk"))
            if not of_type:
                continue
            first, rest = of_type[0], of_type[1:]
            instants.update(event.occurred_at for event in of_type)
            # Deleted before the survivor takes the kept lead's key, which one of them may hold.
            ActivityEvent.objects.filter(pk__in=[event.pk for event in rest]).delete()
            ActivityEvent.objects.filter(pk=first.pk).update(
                lead_id=keep.pk, dedupe_key=f"{type_}:{keep.pk}"
            )
        ActivityEvent.objects.filter(lead_id__in=other_ids).update(lead_id=keep.pk)

        _merge_into(keep, others)
        Lead.objects.filter(pk__in=other_ids).delete()
        keep.save()
        instants.update(getattr(keep, stamp) for stamp in STAMPS)

    _mark_days_dirty(apps, Tenant, touched)
    if schema_editor.connection.vendor == "postgresql":
        # The foreign key checks of the rows moved above are deferred; run them now, before the
        # schema changes below (PostgreSQL refuses those on a table with pending trigger events).
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _mark_days_dirty(apps, Tenant, touched):
    """Marks the rolled tenant-local days of ``touched`` instants dirty (days never rolled are
    read from raw rows anyway)."""
    try:
        RollupDay = apps.get_model("analytics", "RollupDay")
    except LookupError:  # the rollup tables do not exist yet: nothing was rolled
        return
    now = timezone.now()
    for tenant_id, instants in touched.items():
        zone = ZoneInfo(Tenant.objects.get(pk=tenant_id).timezone)
        days = {instant.astimezone(zone).date() for instant in instants if instant is not None}
        RollupDay.objects.filter(tenant_id=tenant_id, day__in=sorted(days)).update(dirty_since=now)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0008_action_agent_type"),
    ]

    operations = [
        migrations.RunPython(merge_duplicate_leads, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="lead", name="lead_tenant_phone_idx"),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(
                condition=models.Q(("phone_number", ""), _negated=True),
                fields=("tenant", "phone_number"),
                name="lead_tenant_phone_uniq",
            ),
        ),
    ]
