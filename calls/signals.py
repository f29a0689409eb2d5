"""Signals ingestion sends so other apps can react inside the same transaction.

``calls`` never imports ``analytics``; analytics connects to ``calls_written`` to mark the
tenant-local days whose rollups are now stale.
"""

from django.dispatch import Signal

# Sent inside the ingestion transaction after calls were created or changed.
# Arguments: ``tenant`` (Tenant) and ``start_times`` (set of aware datetimes, old and new starts
# of every written call, so both the day a call left and the day it joined are marked).
calls_written = Signal()

# Sent inside the transaction that created or changed a lead. Arguments: ``tenant`` and
# ``instants`` (set of aware datetimes whose days the change affects: the lead's stage stamps
# before and after, and the starts of its calls when its source changed).
leads_written = Signal()
