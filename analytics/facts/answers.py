"""Facts of calls, executed actions, leads, activity events and error logs over a scope:
rollups for clean whole days and hours, raw rows for the rest.

Each function cuts the scope's window with ``plan.split_window``: whole tenant-local days that
are rolled up and clean come from day rollups, clean whole UTC hours in what they leave from hour
rollups (``analytics.facts.rolled``), every other piece (partial hours at the edges, dirty or
never-rolled hours, hours past the hour horizon) from raw rows (``analytics.facts.raw``), all
raw pieces in one query. Facts are keyed by day (or hour), so the sources never overlap and
their facts add up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from analytics.facts import plan, raw, rolled
from analytics.facts.db import reading_session
from analytics.facts.vocabulary import (
    CALL_MEASURES,
    LEAD_STAGES,
    NO_CALL_FILTERS,
    NO_LEAD_FILTERS,
    TOTALS,
    CallDimension,
    CallFilters,
    CallQuestion,
    CallTotals,
    FactScope,
    LeadFilters,
    LeadStage,
    LeadTotals,
)
from analytics.windows import Window


@contextmanager
def one_answer() -> Iterator[None]:
    """Wraps the reads of one answer (an API response, a dashboard).

    Each window's clean rollup days and hours are looked up once
    (``plan.one_view_of_rollups``), and on PostgreSQL the block runs in one transaction with
    JIT compilation off (``db.reading_session``).
    """
    with plan.one_view_of_rollups(), reading_session():
        yield


# --- Calls ------------------------------------------------------------------------------------


def call_facts(
    *,
    scope: FactScope,
    filters: CallFilters = NO_CALL_FILTERS,
    by: Sequence[CallDimension] = (),
    per_day: bool = True,
    measures: tuple[str, ...] = CALL_MEASURES,
) -> dict[tuple[Any, ...], CallTotals]:
    """Call totals of the calls started in the scope's window, keyed by ``(local day, *by
    values)``, or with ``per_day=False`` by ``by`` values alone (totals over the whole window,
    summed by the database).

    ``by`` names dimensions (``status``, ``end_call_reason``, ``agent`` (id), ``workflow`` (id),
    ``type_of_call``, ``channel``). ``measures`` names the fields of ``CallTotals`` to compute
    (``calls`` among them); the others stay 0, and a fine question over a long window reads
    that much less.
    """
    question = CallQuestion(by=tuple(by), per_day=per_day, measures=measures)
    return call_answers(scope=scope, filters=filters, questions=[question])[0]


def call_answers(
    *,
    scope: FactScope,
    filters: CallFilters = NO_CALL_FILTERS,
    questions: Sequence[CallQuestion],
) -> list[dict[tuple[Any, ...], CallTotals]]:
    """``call_facts`` of each of ``questions`` about the same window and calls.

    The window's raw pieces are read once, grouped by every key any question asks for, and
    folded into each answer; the rolled days are read per question, each from the smallest
    stored grouping that holds the columns it groups and filters by. A question that no stored
    grouping holds is answered from raw rows over the whole window (exact, like every call
    fact), in one more read shared by all such questions.
    """
    # One split for every question (so one raw read): hours that straddle a local midnight
    # serve totals only, and are read raw when any question is per day.
    per_day = any(question.per_day for question in questions)
    split = plan.split_window(scope=scope, keyed_by="day" if per_day else "window")
    answers: list[dict[tuple[Any, ...], CallTotals]] = [{} for _ in questions]
    groupings = [
        rolled.call_grouping(filters, question.keys) if split.rolled else None
        for question in questions
    ]
    # The raw windows each question reads: the split's raw pieces, or the whole window when it
    # has rolled days or hours but no stored grouping for them.
    raw_reads: dict[tuple[Window, ...], list[int]] = defaultdict(list)
    for i, grouping in enumerate(groupings):
        pieces = (scope.window,) if split.rolled and grouping is None else split.raw
        if pieces:
            raw_reads[pieces].append(i)
    for pieces, asking in raw_reads.items():
        asked = [questions[i] for i in asking]
        raw_rows = raw.call_rows(
            scope=scope,
            windows=pieces,
            filters=filters,
            keys=tuple(dict.fromkeys(key for q in asked for key in q.keys)),
            measures=tuple(m for m in CALL_MEASURES if any(m in q.measures for q in asked)),
        )
        for i in asking:
            question, facts = questions[i], answers[i]
            for raw_row in raw_rows:
                _add_to(
                    facts,
                    tuple(raw_row[k] for k in question.keys),
                    raw.totals_from_row(raw_row, question.measures),
                )
    for question, facts, grouping in zip(questions, answers, groupings, strict=True):
        if grouping is None:
            continue
        width = len(question.keys)
        # Rows are (*key, *measures). Measures that lead CallTotals' fields in order (all of
        # them, or ``calls`` alone) are passed positionally: a year of a fine grouping is
        # thousands of rows.
        positional = CALL_MEASURES[: len(question.measures)] == question.measures
        for row in rolled.call_rows(
            scope=scope,
            split=split,
            grouping=grouping,
            filters=filters,
            keys=question.keys,
            measures=question.measures,
        ):
            _add_to(
                facts,
                row[:width],
                CallTotals(*row[width:])
                if positional
                else CallTotals(**dict(zip(question.measures, row[width:], strict=True))),
            )
    return answers


def _add_to(
    facts: dict[tuple[Any, ...], CallTotals], key: tuple[Any, ...], totals: CallTotals
) -> None:
    if key in facts:
        facts[key].add(totals)
    else:
        facts[key] = totals


def call_hour_facts(
    *,
    scope: FactScope,
    filters: CallFilters = NO_CALL_FILTERS,
    measures: tuple[str, ...] = CALL_MEASURES,
) -> dict[datetime, CallTotals]:
    """Call totals keyed by the UTC start of each local hour of the scope's zone (see
    ``raw.call_hour_facts``). Hour rollups serve the UTC hours that are local hours (every hour
    but in zones whose offset is not a whole number of hours), from the smallest stored grouping
    holding the filtered columns; unfiltered, hours of any age (their call totals are kept past
    the hour horizon). Only ``measures`` are computed (the others stay 0): a year of hours is
    8,760 rows, each measure a value to read."""
    grouping = rolled.call_grouping(filters, ())
    split = plan.split_window(
        scope=scope, usable=grouping is not None, keyed_by="hour", totals_only=grouping == TOTALS
    )
    facts: dict[datetime, CallTotals] = {}
    if split.raw:
        facts = raw.call_hour_facts(
            scope=scope, windows=split.raw, filters=filters, measures=measures
        )
    if split.hours and grouping is not None:
        for hour, *values in rolled.call_hour_rows(
            scope=scope, split=split, grouping=grouping, filters=filters, measures=measures
        ):
            totals = CallTotals(**dict(zip(measures, values, strict=True)))
            facts.setdefault(hour.astimezone(UTC), CallTotals()).add(totals)
    return facts


# --- Executed actions, leads, activity events ---------------------------------------------------


def action_facts(
    *, scope: FactScope, filters: CallFilters = NO_CALL_FILTERS, per_day: bool = True
) -> dict[tuple[date | None, str], int]:
    """Executed actions of the calls started in the scope's window, counted by ``(local day,
    name)``, or with ``per_day=False`` by ``(None, name)`` (totals over the window, summed by
    the database)."""
    # Action rollups hold the calls' agent and type, no other call column.
    usable = replace(filters, agent_model_id=None, type_of_call=None) == NO_CALL_FILTERS
    split = plan.split_window(scope=scope, usable=usable, keyed_by="day" if per_day else "window")
    facts: dict[tuple[date | None, str], int] = defaultdict(int)
    if split.raw:
        facts.update(
            raw.action_facts(scope=scope, windows=split.raw, filters=filters, per_day=per_day)
        )
    if split.rolled:
        for *day, name, count in rolled.action_rows(
            scope=scope, split=split, filters=filters, per_day=per_day
        ):
            facts[(day[0] if day else None, name)] += count
    return dict(facts)


def lead_facts(
    *,
    scope: FactScope,
    filters: LeadFilters = NO_LEAD_FILTERS,
    stages: Sequence[LeadStage] = LEAD_STAGES,
    per_day: bool = True,
) -> dict[date | None, LeadTotals]:
    """Per local day (one total keyed ``None`` without ``per_day``): leads created in the
    scope's window (with their score sum), and leads whose qualified / demo-booked / converted
    stamp falls in it."""
    split = plan.split_window(scope=scope, hours=False)
    facts: dict[date | None, LeadTotals] = {}
    if split.raw:
        facts = raw.lead_facts(
            scope=scope, windows=split.raw, filters=filters, stages=stages, per_day=per_day
        )
    if split.days:
        for row in rolled.lead_rows(
            scope=scope, split=split, filters=filters, stages=stages, per_day=per_day
        ):
            facts.setdefault(row.get("day"), LeadTotals()).add_stage(row["stage"], row)
    return facts


def event_facts(*, scope: FactScope, types: Sequence[str] = ()) -> dict[tuple[date, str], int]:
    """Activity events that occurred in the scope's window (of ``types``, if given), counted by
    ``(local day, type)``."""
    split = plan.split_window(scope=scope)
    facts: dict[tuple[date, str], int] = defaultdict(int)
    if split.raw:
        facts.update(raw.event_facts(scope=scope, windows=split.raw, types=types))
    if split.rolled:
        for day, type_, count in rolled.event_rows(scope=scope, split=split, types=types):
            facts[(day, type_)] += count
    return dict(facts)


# --- Error logs -------------------------------------------------------------------------------


def error_count(*, scope: FactScope, service: str | None = None, level: str | None = None) -> int:
    """Error logs stamped in the scope's window (of ``service`` and ``level``, if given). A
    total: the days it reads from rollups are the tenant's own, whatever the scope's zone."""
    scope = replace(scope, zone=scope.tenant.zone)
    split = plan.split_window(scope=scope, keyed_by="window")
    total = 0
    if split.raw:
        total += raw.error_count(scope=scope, windows=split.raw, service=service, level=level)
    if split.rolled:
        total += rolled.error_count(scope=scope, split=split, service=service, level=level)
    return total
