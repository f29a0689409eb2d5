"""The Celery application. Settings come from Django settings under the ``CELERY_`` namespace;
the beat schedule lives here, in code, each entry expiring before the next one is due."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("callscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

ROLL_DIRTY_EVERY_SECONDS = 120
ROLL_DIRTY_HOURS_EVERY_SECONDS = 60

app.conf.beat_schedule = {
    "roll-dirty-days": {
        "task": "analytics.tasks.roll_dirty_days",
        "schedule": ROLL_DIRTY_EVERY_SECONDS,
        "options": {"expires": ROLL_DIRTY_EVERY_SECONDS - 10},
    },
    "roll-dirty-hours": {
        "task": "analytics.tasks.roll_dirty_hours",
        "schedule": ROLL_DIRTY_HOURS_EVERY_SECONDS,
        "options": {"expires": ROLL_DIRTY_HOURS_EVERY_SECONDS - 10},
    },
    "prune-hours": {
        "task": "analytics.tasks.prune_hours",
        "schedule": crontab(minute=5),
        "options": {"expires": 30 * 60},
    },
    "reconcile-recent-days": {
        "task": "analytics.tasks.reconcile_recent_days",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expires": 60 * 60},
    },
    "prune-webhook-deliveries": {
        "task": "calls.tasks.prune_webhook_deliveries",
        "schedule": crontab(hour=4, minute=0),
        "options": {"expires": 60 * 60},
    },
    "reconcile-recent-hours": {
        "task": "analytics.tasks.reconcile_recent_hours",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 60 * 60},
    },
}
