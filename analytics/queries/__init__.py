"""The analytics query layer: one module per API family, one function per endpoint, and one
module (``dashboard``) for the reads of the admin's analytics dashboard.

Each function is pure (tenant, window, zone, filters in; a typed result out, its fields named as
the family's wire fields) and runs a fixed number of queries, whatever the size of the data.
Aggregates come from ``analytics.facts`` (per-local-day facts, from rollups for clean days) and
are combined with the formulas of ``analytics.definitions``; row listings (recent calls, error
logs, the activity feed) and live counts (active calls) read rows directly.

Callers import the family's module: ``from analytics.queries import platform``.
"""
