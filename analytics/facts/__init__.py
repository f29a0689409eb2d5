"""Facts: additive aggregates per tenant-local day (or hour) of calls, executed actions, leads,
activity events, error logs and latency samples.

Every fact is asked about a ``FactScope`` (a tenant, a half-open window and the zone whose
calendar defines the days) and returns counts and sums keyed by local day (plus the requested
dimensions). Everything in a fact is additive: facts of two windows, or of raw days and rolled-up
days, merge by addition. The query families (``analytics.queries``, the admin dashboard's reads
among them) only ever combine facts, so rollups of clean whole days and hours stand in for raw
rows without changing an answer. Percentiles are the exception (an order
statistic does not add up): ``latency_summary`` and ``latency_series`` merge histograms.

The package is a stack, each module importing only those below it:

- ``vocabulary``: scope, filters, questions, totals and the rollup schema (measures, call
  groupings, lead stages);
- ``db``: reading rows, session settings, ``INSERT … SELECT``;
- ``plan``: which days and hours of a window come from rollups, and which from raw rows;
- ``raw`` (facts from raw rows) and ``rolled`` (the rollup rows of the planned days and hours);
- ``answers`` and ``latency_answers``: the public facts, merging the two sources.
"""

from analytics.facts.answers import (
    action_facts,
    call_answers,
    call_facts,
    call_hour_facts,
    error_count,
    event_facts,
    lead_facts,
    one_answer,
)
from analytics.facts.latency_answers import latency_facts, latency_series, latency_summary
from analytics.facts.plan import raw_only
from analytics.facts.raw import events_in
from analytics.facts.vocabulary import (
    CALL_MEASURES,
    LEAD_STAGE_COLUMNS,
    LEAD_STAGES,
    NO_CALL_FILTERS,
    NO_LEAD_FILTERS,
    VOLUME_MEASURES,
    CallFilters,
    CallQuestion,
    CallTotals,
    FactScope,
    LatencyTotals,
    LeadFilters,
    LeadStage,
    LeadTotals,
    sum_totals,
)

__all__ = [
    "CALL_MEASURES",
    "LEAD_STAGES",
    "LEAD_STAGE_COLUMNS",
    "NO_CALL_FILTERS",
    "NO_LEAD_FILTERS",
    "VOLUME_MEASURES",
    "CallFilters",
    "CallQuestion",
    "CallTotals",
    "FactScope",
    "LatencyTotals",
    "LeadFilters",
    "LeadStage",
    "LeadTotals",
    "action_facts",
    "call_answers",
    "call_facts",
    "call_hour_facts",
    "error_count",
    "event_facts",
    "events_in",
    "latency_facts",
    "latency_series",
    "latency_summary",
    "lead_facts",
    "one_answer",
    "raw_only",
    "sum_totals",
]
