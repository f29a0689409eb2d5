"""Signals ingestion sends so other apps can react inside the same transaction.

``calls`` never imports ``analytics``; analytics connects to ``calls_written`` to mark the
tenant-local days whose rollups are now stale.
"""

from django.dispatch import Signal

# Sent inside the ingestion transaction after calls were created or changed.
# Arguments: ``tenant`` (Tenant) and ``start_times`` (set of aware datetimes, old and new starts
# of every written call, so both the day a call left and the day it joined are marked).
calls_written = Signal()
