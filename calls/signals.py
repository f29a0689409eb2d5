"""The signal ingestion sends so other apps can react inside the same transaction.

``calls`` never imports ``analytics``; analytics connects to ``rows_written`` to mark the
tenant-local days whose rollups are now stale.
"""

from django.dispatch import Signal

# Sent once per writing transaction (call batch, lead upsert, demo batch), inside it, after the
# writes. Arguments: ``tenant`` (Tenant) and ``instants`` (set of aware datetimes whose days the
# writes affect: the old and new start of every written call, every stage stamp of a written
# lead before and after, the starts of a lead's calls when its source changed, and when every
# activity event written occurred). Sent once so receivers can lock what they mark in one sorted
# statement: several statements per transaction could deadlock against a concurrent writer.
rows_written = Signal()
